import { buildNamespaceTable, buildRowId, COLUMNS, DEFAULT_COMMAND_MAX_CHARS, MORE_ROW_ID, NAMESPACE_TYPES, shortenCommand } from './parse.js';
/** Creates a {@link NamespaceTableCache} for one type selection, row limit and command width. */
export function createNamespaceTableCache(options = {}) {
    const types = new Set(options.types ?? NAMESPACE_TYPES);
    const maxRows = options.maxRows ?? Number.POSITIVE_INFINITY;
    const commandMaxChars = options.commandMaxChars ?? DEFAULT_COMMAND_MAX_CHARS;
    // Row id by inode (nsfs inodes are unique across types), null when refused: ids are checked once per namespace.
    let ids = new Map();
    /** The records behind the previous table's rows, in row order, and the rows made from them. */
    let shownRecords = [];
    let shownRows = [];
    let previous;
    const idOf = (record) => {
        let id = ids.get(record.inode);
        if (id === undefined || (id !== null && id.charCodeAt(0) - 48 !== TYPE_DIGIT[record.type])) {
            try {
                id = buildRowId(record.type, record.inode);
            }
            catch {
                id = null;
            }
            ids.set(record.inode, id);
        }
        return id;
    };
    const sameRecord = (a, b) => a === b || (a !== undefined && a.inode === b.inode && a.type === b.type && a.nprocs === b.nprocs && a.pid === b.pid && a.user === b.user && a.command === b.command);
    return {
        build(records) {
            // First pass, allocating nothing: are the shown rows the previous ones, and is the total the same?
            let total = 0;
            let same = previous !== undefined;
            let lastId = '';
            for (const record of records) {
                if (!types.has(record.type))
                    continue;
                const id = idOf(record);
                // A record that cannot form a safe id, or records out of row order: the pure builder handles them.
                if (id === null || id <= lastId)
                    return rebuildFromScratch(records);
                lastId = id;
                if (same && total < maxRows && !sameRecord(shownRecords[total], record))
                    same = false;
                total++;
            }
            if (same && previous && total === previous.total && Math.min(total, maxRows) === shownRecords.length)
                return previous;
            // Something shown changed: new rows, reusing those whose record is the same.
            const oldRows = new Map();
            for (let i = 0; i < shownRecords.length; i++)
                oldRows.set(shownRecords[i].inode, { record: shownRecords[i], row: shownRows[i] });
            const rows = {};
            const nextRecords = [];
            const nextRows = [];
            for (const record of records) {
                if (nextRecords.length >= maxRows)
                    break;
                if (!types.has(record.type))
                    continue;
                const old = oldRows.get(record.inode);
                const row = old && sameRecord(old.record, record) ? old.row : makeRow(record);
                rows[idOf(record)] = row;
                nextRecords.push(record);
                nextRows.push(row);
            }
            const hidden = total - nextRecords.length;
            if (hidden > 0) {
                rows[MORE_ROW_ID] = {
                    [COLUMNS.ns]: `${hidden} more`,
                    [COLUMNS.command]: `${hidden} more namespaces not shown (row limit ${nextRecords.length}, --max-rows)`,
                };
            }
            shownRecords = nextRecords;
            shownRows = nextRows;
            // Forget ids of namespaces gone for good, once they outnumber the live ones.
            if (ids.size > 2 * total + 64) {
                const live = new Map();
                for (const record of records)
                    if (types.has(record.type))
                        live.set(record.inode, ids.get(record.inode) ?? null);
                ids = live;
            }
            previous = { rows, total, hidden, rejected: [] };
            return previous;
        },
    };
    function makeRow(record) {
        // Never empty: a process without a command line (a kernel thread) has its comm, and a namespace whose
        // lowest pid could not be read says so rather than leaving a blank cell.
        const command = record.command === '' ? '(unreadable)' : shortenCommand(record.command, commandMaxChars);
        return { [COLUMNS.ns]: record.inode, [COLUMNS.type]: record.type, [COLUMNS.nprocs]: record.nprocs, [COLUMNS.pid]: record.pid, [COLUMNS.user]: record.user, [COLUMNS.command]: command };
    }
    function rebuildFromScratch(records) {
        // Rare: the pure builder sorts, and says why a record was refused; the next build starts afresh from it.
        previous = undefined;
        shownRecords = [];
        shownRows = [];
        return buildNamespaceTable(records, options);
    }
}
/** The digit a row id starts with, per type (its position in NAMESPACE_TYPES). */
const TYPE_DIGIT = Object.fromEntries(NAMESPACE_TYPES.map((type, index) => [type, index]));
//# sourceMappingURL=table-cache.js.map