/**
 * Pure parsing and table assembly for host-namespaces: text in, typed records out. No host access here.
 */
import { MULTICOLUMN_SEPARATOR } from '@scope-plugins/core';
/** Every namespace type the kernel exposes under `/proc/<pid>/ns/`, in lsns's order (also our row order). */
export const NAMESPACE_TYPES = ['mnt', 'net', 'pid', 'uts', 'ipc', 'user', 'cgroup', 'time'];
/** True when `value` names a namespace type. */
export function isNamespaceType(value) {
    return typeof value === 'string' && NAMESPACE_TYPES.includes(value);
}
const LINK_PATTERN = /^([a-z_]+):\[(\d+)\]$/;
/**
 * Parses the text of a `/proc/<pid>/ns/<type>` link (`net:[4026531840]`). Returns undefined for anything
 * else; `pid_for_children`-style links name their base type (`pid:[…]`), so they parse too.
 */
export function parseNamespaceLink(text) {
    const match = LINK_PATTERN.exec(text.trim());
    if (!match)
        return undefined;
    const [, type, inode] = match;
    if (!isNamespaceType(type) || inode === undefined)
        return undefined;
    return { type, inode: normalizeInode(inode) };
}
function normalizeInode(digits) {
    const trimmed = digits.replace(/^0+(?=\d)/, '');
    return trimmed;
}
/** Error thrown by the parsers for text that does not have the expected shape. */
export class NamespaceParseError extends Error {
    name = 'NamespaceParseError';
}
function describe(value) {
    const text = JSON.stringify(value);
    return text === undefined ? String(value) : text.length > 80 ? `${text.slice(0, 80)}…` : text;
}
function readInteger(entry, key, where) {
    const value = entry[key];
    // lsns 2.38 prints numbers; older releases print numeric strings.
    const number = typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : value;
    if (typeof number !== 'number' || !Number.isSafeInteger(number) || number < 0) {
        throw new NamespaceParseError(`lsns --json: ${where}.${key} must be a non-negative integer, got ${describe(value)}`);
    }
    return number;
}
function readText(entry, key) {
    const value = entry[key];
    return value === null || value === undefined ? '' : String(value);
}
/**
 * Parses `lsns --json` output (flat `--list` or the default tree with `children`) into one record per
 * namespace, sorted by type then inode. Namespace types this code does not know are skipped (a newer
 * kernel may add one); malformed entries throw a {@link NamespaceParseError}.
 */
export function parseLsnsJson(text) {
    let document;
    try {
        document = JSON.parse(text);
    }
    catch (error) {
        throw new NamespaceParseError(`lsns --json: output is not JSON (${error.message})`, { cause: error });
    }
    const top = document?.namespaces;
    if (!Array.isArray(top))
        throw new NamespaceParseError(`lsns --json: expected {"namespaces": [...]}, got ${describe(document)}`);
    const records = [];
    const visit = (list, where) => {
        list.forEach((item, index) => {
            const at = `${where}[${index}]`;
            if (typeof item !== 'object' || item === null || Array.isArray(item))
                throw new NamespaceParseError(`lsns --json: ${at} must be an object, got ${describe(item)}`);
            const entry = item;
            const type = entry['type'];
            if (isNamespaceType(type)) {
                records.push({
                    inode: String(readInteger(entry, 'ns', at)),
                    type,
                    nprocs: readInteger(entry, 'nprocs', at),
                    pid: readInteger(entry, 'pid', at),
                    user: readText(entry, 'user'),
                    command: readText(entry, 'command'),
                });
            }
            const children = entry['children'];
            if (Array.isArray(children))
                visit(children, `${at}.children`);
        });
    };
    visit(top, 'namespaces');
    return sortNamespaces(records);
}
/** Compares two inode digit strings numerically. */
export function compareInodes(a, b) {
    return a.length - b.length || (a < b ? -1 : a > b ? 1 : 0);
}
/** Position of each type in {@link NAMESPACE_TYPES}: a property read per comparison instead of two array scans. */
const TYPE_ORDER = Object.fromEntries(NAMESPACE_TYPES.map((type, index) => [type, index]));
/** Sorts records by type (lsns's order) then inode, the table's row order. Returns a new array. */
export function sortNamespaces(records) {
    return [...records].sort((a, b) => TYPE_ORDER[a.type] - TYPE_ORDER[b.type] || compareInodes(a.inode, b.inode));
}
/**
 * Turns `/proc/<pid>/cmdline` content (NUL-separated arguments) into one line, as lsns and ps show it.
 * Returns '' for kernel threads and zombies, whose cmdline is empty.
 */
export function parseCmdline(content) {
    return content.replace(/\0+$/, '').split('\0').join(' ').trim();
}
/** Parses `/etc/passwd` into uid → user name (first entry wins, as getpwuid does). */
export function parsePasswd(content) {
    const users = new Map();
    for (const line of content.split('\n')) {
        if (line === '' || line.startsWith('#'))
            continue;
        const [name, , uidText] = line.split(':');
        if (!name || uidText === undefined || !/^\d+$/.test(uidText))
            continue;
        const uid = Number(uidText);
        if (!users.has(uid))
            users.set(uid, name);
    }
    return users;
}
/** Row ids are digits, letters and dashes only: nothing that could form `___` or confuse Scope's key split. */
const ROW_ID_PATTERN = /^[A-Za-z0-9-]+$/;
/** Throws a TypeError unless `rowId` is safe as a multicolumn row id (no `___`, no `_` at all, non-empty). */
export function validateRowId(rowId) {
    if (rowId.includes(MULTICOLUMN_SEPARATOR) || !ROW_ID_PATTERN.test(rowId)) {
        throw new TypeError(`table row id must match ${ROW_ID_PATTERN} (and never contain "${MULTICOLUMN_SEPARATOR}"), got ${JSON.stringify(rowId)}`);
    }
    return rowId;
}
/** Width inode numbers are zero-padded to in row ids, so rows sort by inode as strings (64-bit max is 20 digits). */
export const INODE_PAD_WIDTH = 20;
/**
 * The row id of a namespace: `<type order digit>-<type>-<zero-padded inode>`, e.g. `1-net-00000000004026531840`.
 * Scope sorts rows by id as strings, so this gives type order, then inode order. Throws a TypeError for an
 * unknown type or an inode that is not decimal digits.
 */
export function buildRowId(type, inode) {
    if (!isNamespaceType(type))
        throw new TypeError(`namespace type must be one of ${NAMESPACE_TYPES.join(', ')}, got ${JSON.stringify(type)}`);
    if (!/^\d{1,20}$/.test(inode))
        throw new TypeError(`namespace inode must be 1 to 20 decimal digits, got ${JSON.stringify(inode)}`);
    return validateRowId(`${NAMESPACE_TYPES.indexOf(type)}-${type}-${inode.padStart(INODE_PAD_WIDTH, '0')}`);
}
/** Row id of the "N more" row: sorts after every namespace row (type digits are 0–7). */
export const MORE_ROW_ID = '9-more';
/** Column ids of the namespaces table. */
export const COLUMNS = {
    ns: 'ns',
    type: 'type',
    nprocs: 'nprocs',
    pid: 'pid',
    user: 'user',
    command: 'command',
};
/** Longest command kept in the Command cell (the UI shows the whole cell on hover; this bounds the report). */
export const DEFAULT_COMMAND_MAX_CHARS = 500;
/** Shortens `text` to at most `maxChars` characters, ending with `…` when cut. */
export function shortenCommand(text, maxChars) {
    // A string never has more characters than UTF-16 units: short ones need no split (the common case).
    if (text.length <= maxChars)
        return text;
    const chars = [...text];
    if (chars.length <= maxChars)
        return text;
    return `${chars.slice(0, Math.max(0, maxChars - 1)).join('')}…`;
}
/**
 * Builds the multicolumn table rows: one row per namespace of the selected types, in type-then-inode order,
 * capped at `maxRows` with a final "N more" row. Every row id is checked by {@link validateRowId}; a record
 * that cannot form a safe id is refused (listed in `rejected`), never written.
 */
export function buildNamespaceTable(records, options = {}) {
    const types = new Set(options.types ?? NAMESPACE_TYPES);
    const maxRows = options.maxRows ?? Number.POSITIVE_INFINITY;
    const commandMaxChars = options.commandMaxChars ?? DEFAULT_COMMAND_MAX_CHARS;
    const rejected = [];
    const accepted = [];
    for (const record of records) {
        if (!types.has(record.type))
            continue;
        try {
            accepted.push({ id: buildRowId(record.type, record.inode), record });
        }
        catch (error) {
            rejected.push({ record, reason: error.message });
        }
    }
    // Sort by the row id itself: that is exactly the order Scope will show.
    accepted.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    const rows = {};
    const shown = accepted.slice(0, maxRows);
    for (const { id, record } of shown) {
        // Never empty: a process without a command line (a kernel thread) has its comm, and a namespace whose
        // lowest pid could not be read says so rather than leaving a blank cell.
        const command = record.command === '' ? '(unreadable)' : shortenCommand(record.command, commandMaxChars);
        rows[id] = {
            [COLUMNS.ns]: record.inode,
            [COLUMNS.type]: record.type,
            [COLUMNS.nprocs]: record.nprocs,
            [COLUMNS.pid]: record.pid,
            [COLUMNS.user]: record.user,
            [COLUMNS.command]: command,
        };
    }
    const hidden = accepted.length - shown.length;
    if (hidden > 0) {
        rows[validateRowId(MORE_ROW_ID)] = {
            [COLUMNS.ns]: `${hidden} more`,
            [COLUMNS.command]: `${hidden} more namespaces not shown (row limit ${shown.length}, --max-rows)`,
        };
    }
    return { rows, total: accepted.length, hidden, rejected };
}
/**
 * Namespace types compared with the host's for a container's "Namespaces shared with host": every type, so
 * the summary agrees row for row with the container's namespaces table (`time` too: Docker never gives a
 * container its own time namespace, so it is listed for every container, and that is the truth).
 */
export const SHARING_TYPES = NAMESPACE_TYPES;
/** Compares a container's namespace inodes with the host's, for the {@link SHARING_TYPES} both sides have. */
export function compareWithHost(container, host) {
    const sharedWithHost = SHARING_TYPES.filter((type) => container[type] !== undefined && container[type] === host[type]);
    return { namespaces: container, sharedWithHost };
}
/** Formats a container's namespaces for one metadata value: `mnt:[4026532300] net:[4026531840] …` in type order. */
export function formatNamespaceList(namespaces) {
    return NAMESPACE_TYPES.filter((type) => namespaces[type] !== undefined)
        .map((type) => `${type}:[${namespaces[type]}]`)
        .join(' ');
}
/**
 * The start time of a process (field 22 of `/proc/<pid>/stat`, clock ticks since boot), as text; undefined when the
 * line has no such field. With the pid it names one process for the life of the system: a reused pid has a later
 * start time. The command (field 2) may hold spaces and parentheses, so fields are counted after its last `)`.
 */
export function parseStartTime(stat) {
    const end = stat.lastIndexOf(')');
    if (end < 0)
        return undefined;
    // Field 3 (state) is the first after ") "; field 22 is the 20th from there.
    const value = stat.slice(end + 2).split(' ')[19];
    return value !== undefined && /^\d+$/.test(value) ? value : undefined;
}
//# sourceMappingURL=parse.js.map