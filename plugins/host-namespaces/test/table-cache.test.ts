import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { buildNamespaceTable, parseLsnsJson, type NamespaceRecord, type NamespaceTableOptions } from '../src/parse.js';
import { createNamespaceTableCache } from '../src/table-cache.js';

const fixture = (name: string) => readFileSync(new URL(`./fixtures/${name}`, import.meta.url), 'utf8');
// lsns 2.38's own output (fixtures/README.md): sorted by type then inode, as every scan is.
const records = parseLsnsJson(fixture('lsns-list.json'));
const copy = (list: readonly NamespaceRecord[]) => list.map((record) => ({ ...record }));

describe('createNamespaceTableCache', () => {
  it.each<NamespaceTableOptions>([{}, { maxRows: 3 }, { maxRows: records.length }, { types: ['net', 'pid'], maxRows: 2 }, { commandMaxChars: 20 }])(
    'builds the same table as buildNamespaceTable (%j)',
    (options) => {
      const cache = createNamespaceTableCache(options);
      const expected = buildNamespaceTable(records, options);
      const table = cache.build(records);
      expect(table).toEqual(expected);
      // Row order is what Scope shows: the same too.
      expect(Object.keys(table.rows)).toEqual(Object.keys(expected.rows));
    },
  );

  it('hands back the previous table while nothing shown changed, and a new one, reusing unchanged rows, when something did', () => {
    const options = { maxRows: 5 };
    const cache = createNamespaceTableCache(options);
    const first = cache.build(records);
    // Equal records as new objects (the lsns source parses new ones every time): same table.
    expect(cache.build(copy(records))).toBe(first);
    // A namespace past the row limit gains a process: nothing shown changes.
    const hiddenChange = copy(records);
    hiddenChange[records.length - 1]!.nprocs += 1;
    expect(cache.build(hiddenChange)).toBe(first);
    // A shown one does: a new table, equal to a fresh build, the other rows kept as they were.
    const shownChange = copy(records);
    shownChange[1]!.nprocs += 1;
    const second = cache.build(shownChange);
    expect(second).not.toBe(first);
    expect(second).toEqual(buildNamespaceTable(shownChange, options));
    const ids = Object.keys(first.rows);
    expect(second.rows[ids[0]!]).toBe(first.rows[ids[0]!]);
    expect(second.rows[ids[1]!]).not.toBe(first.rows[ids[1]!]);
    // One namespace fewer: the total and the "N more" row move.
    const fewer = shownChange.slice(0, -1);
    const third = cache.build(fewer);
    expect(third).not.toBe(second);
    expect(third).toEqual(buildNamespaceTable(fewer, options));
    // A new command of a leader is shown.
    const exec = copy(fewer);
    exec[0]!.command = 'new command';
    expect(cache.build(exec)).toEqual(buildNamespaceTable(exec, options));
  });

  it('with holdCounts, hands back the previous table while only process counts of shown rows moved, and nothing else', () => {
    const options = { maxRows: 5 };
    const cache = createNamespaceTableCache(options);
    const first = cache.build(records);
    expect(cache.holding).toBe(false);
    const counts = copy(records);
    counts[0]!.nprocs += 3;
    counts[2]!.nprocs -= 1;
    expect(cache.build(counts, { holdCounts: true })).toBe(first);
    expect(cache.holding).toBe(true);
    // Still held on the next build with the same counts, and given out once the caller stops holding.
    expect(cache.build(counts, { holdCounts: true })).toBe(first);
    const shown = cache.build(counts);
    expect(shown).not.toBe(first);
    expect(shown).toEqual(buildNamespaceTable(counts, options));
    expect(cache.holding).toBe(false);
    // Counts back to the shown ones while holding: nothing is held any more.
    const back = copy(counts);
    back[0]!.nprocs += 1;
    expect(cache.build(back, { holdCounts: true })).toBe(shown);
    expect(cache.holding).toBe(true);
    expect(cache.build(counts, { holdCounts: true })).toBe(shown);
    expect(cache.holding).toBe(false);
    // A count change together with anything else shown is not held: a new lowest pid, a command, a row, the total.
    const changes: Array<(list: NamespaceRecord[]) => NamespaceRecord[]> = [
      (list) => ((list[1]!.pid += 1), list),
      (list) => ((list[1]!.user = 'nobody'), list),
      (list) => ((list[1]!.command = 'other'), list),
      (list) => list.slice(1),
      (list) => list.slice(0, -1),
    ];
    for (const change of changes) {
      const next = change(copy(counts));
      next[0]!.nprocs += 5;
      const table = cache.build(next, { holdCounts: true });
      expect(table).toEqual(buildNamespaceTable(next, options));
      expect(cache.holding).toBe(false);
      cache.build(counts);
    }
  });

  it('leaves a record that cannot form a safe row id to the pure builder, which refuses it and says why', () => {
    const cache = createNamespaceTableCache();
    cache.build(records);
    const bad = [...records, { inode: '12___3', type: 'net', nprocs: 1, pid: 1, user: 'root', command: 'x' } as NamespaceRecord];
    const table = cache.build(bad);
    expect(table.rejected.map((r) => r.reason)).toEqual(['namespace inode must be 1 to 20 decimal digits, got "12___3"']);
    expect(table.rows).toEqual(buildNamespaceTable(records).rows);
    // And the next good scan is built afresh.
    expect(cache.build(records)).toEqual(buildNamespaceTable(records));
  });

  it('sorts records that do not come in row order, as the pure builder does', () => {
    const cache = createNamespaceTableCache({ maxRows: 4 });
    const shuffled = [...records].reverse();
    expect(cache.build(shuffled)).toEqual(buildNamespaceTable(records, { maxRows: 4 }));
  });
});
