/**
 * The namespaces table, rebuilt from one scan to the next without redoing what did not change: row ids are
 * remembered per namespace, a row whose cells are the same is the same object, and when every shown row, the
 * total and the "N more" row are the same, the previous table itself comes back. The plugin then tells core its
 * report is unchanged, and core serves the previous body again instead of building, guarding and serializing it.
 * Same output as {@link buildNamespaceTable} (the tests compare the two); no host access here.
 */
import type { TableRows } from '@scope-plugins/core';
import { buildNamespaceTable, buildRowId, COLUMNS, DEFAULT_COMMAND_MAX_CHARS, MORE_ROW_ID, NAMESPACE_TYPES, shortenCommand, type NamespaceRecord, type NamespaceTable, type NamespaceTableOptions } from './parse.js';

/** A table builder that remembers its last table. */
export interface NamespaceTableCache {
  /**
   * The table of `records` (sorted by type then inode, as scans are); the previous table object when nothing shown
   * changed, or, with `holdCounts`, when only process counts (# Procs) of shown rows changed: the same rows, pids,
   * users, commands, total and "N more" row.
   */
  build(records: readonly NamespaceRecord[], options?: { holdCounts?: boolean }): NamespaceTable;
  /** True while the last table returned shows older process counts than the records it was given (held back). */
  readonly holding: boolean;
}

type Row = TableRows[string];

/** Creates a {@link NamespaceTableCache} for one type selection, row limit and command width. */
export function createNamespaceTableCache(options: NamespaceTableOptions = {}): NamespaceTableCache {
  const types = new Set<string>(options.types ?? NAMESPACE_TYPES);
  const maxRows = options.maxRows ?? Number.POSITIVE_INFINITY;
  const commandMaxChars = options.commandMaxChars ?? DEFAULT_COMMAND_MAX_CHARS;
  // Row id by inode (nsfs inodes are unique across types), null when refused: ids are checked once per namespace.
  let ids = new Map<string, string | null>();
  /** The records behind the previous table's rows, in row order, and the rows made from them. */
  let shownRecords: NamespaceRecord[] = [];
  let shownRows: Row[] = [];
  let previous: NamespaceTable | undefined;
  let holding = false;

  const idOf = (record: NamespaceRecord): string | null => {
    let id = ids.get(record.inode);
    if (id === undefined || (id !== null && id.charCodeAt(0) - 48 !== TYPE_DIGIT[record.type])) {
      try {
        id = buildRowId(record.type, record.inode);
      } catch {
        id = null;
      }
      ids.set(record.inode, id);
    }
    return id;
  };

  /** Same row but for its process count. */
  const sameButCount = (a: NamespaceRecord | undefined, b: NamespaceRecord): boolean =>
    a === b || (a !== undefined && a.inode === b.inode && a.type === b.type && a.pid === b.pid && a.user === b.user && a.command === b.command);
  const sameRecord = (a: NamespaceRecord | undefined, b: NamespaceRecord): boolean => a === b || (sameButCount(a, b) && a!.nprocs === b.nprocs);

  return {
    get holding() {
      return holding;
    },
    build(records, buildOptions) {
      const holdCounts = buildOptions?.holdCounts === true;
      // First pass, allocating nothing: are the shown rows the previous ones, and is the total the same?
      let total = 0;
      // Every shown record equal (`same`), or equal but for counts (`sameRows`).
      let same = previous !== undefined;
      let sameRows = same;
      let lastId = '';
      for (const record of records) {
        if (!types.has(record.type)) continue;
        const id = idOf(record);
        // A record that cannot form a safe id, or records out of row order: the pure builder handles them.
        if (id === null || id <= lastId) return rebuildFromScratch(records);
        lastId = id;
        if (sameRows && total < maxRows) {
          const shown = shownRecords[total];
          if (!sameButCount(shown, record)) same = sameRows = false;
          else if (same && shown!.nprocs !== record.nprocs) same = false;
        }
        total++;
      }
      if (sameRows && previous && total === previous.total && Math.min(total, maxRows) === shownRecords.length) {
        if (same) {
          holding = false;
          return previous;
        }
        if (holdCounts) {
          // Only counts moved: the caller may show them later (the shown records stay the old ones, so they still differ).
          holding = true;
          return previous;
        }
      }
      holding = false;
      // Something shown changed: new rows, reusing those whose record is the same.
      const oldRows = new Map<string, { record: NamespaceRecord; row: Row }>();
      for (let i = 0; i < shownRecords.length; i++) oldRows.set(shownRecords[i]!.inode, { record: shownRecords[i]!, row: shownRows[i]! });
      const rows: TableRows = {};
      const nextRecords: NamespaceRecord[] = [];
      const nextRows: Row[] = [];
      for (const record of records) {
        if (nextRecords.length >= maxRows) break;
        if (!types.has(record.type)) continue;
        const old = oldRows.get(record.inode);
        const row = old && sameRecord(old.record, record) ? old.row : makeRow(record);
        rows[idOf(record)!] = row;
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
        const live = new Map<string, string | null>();
        for (const record of records) if (types.has(record.type)) live.set(record.inode, ids.get(record.inode) ?? null);
        ids = live;
      }
      previous = { rows, total, hidden, rejected: [] };
      return previous;
    },
  };

  function makeRow(record: NamespaceRecord): Row {
    // Never empty: a process without a command line (a kernel thread) has its comm, and a namespace whose
    // lowest pid could not be read says so rather than leaving a blank cell.
    const command = record.command === '' ? '(unreadable)' : shortenCommand(record.command, commandMaxChars);
    return { [COLUMNS.ns]: record.inode, [COLUMNS.type]: record.type, [COLUMNS.nprocs]: record.nprocs, [COLUMNS.pid]: record.pid, [COLUMNS.user]: record.user, [COLUMNS.command]: command };
  }

  function rebuildFromScratch(records: readonly NamespaceRecord[]): NamespaceTable {
    // Rare: the pure builder sorts, and says why a record was refused; the next build starts afresh from it.
    previous = undefined;
    holding = false;
    shownRecords = [];
    shownRows = [];
    return buildNamespaceTable(records, options);
  }
}

/** The digit a row id starts with, per type (its position in NAMESPACE_TYPES). */
const TYPE_DIGIT = Object.fromEntries(NAMESPACE_TYPES.map((type, index) => [type, index])) as Record<string, number>;
