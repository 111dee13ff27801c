import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execaSync } from 'execa';
import { createLogger, createMetricsHub, hostNodeId, parseListenAddress, resolveOptionValues, type Report } from '@scope-plugins/core';
import { renderNode, requireComponent, startTestPlugin, type TestPlugin } from '@scope-plugins/core/testing';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { MORE_ROW_ID, TABLE_PREFIX, TOTAL_KEY, buildRowId, plugin } from '../src/index.js';
import { startUnshare, type Unshared } from './helpers/unshare.js';

const HOST = 'test-host';
const UNSHARE_LINE = 'unshare --uts --ipc --net --pid --fork --mount-proc --kill-child sleep 60';
const hasUnshare = (() => {
  try {
    return execaSync('unshare', ['--version'], { timeout: 5000 }).exitCode === 0;
  } catch {
    return false;
  }
})();
const isRoot = process.getuid?.() === 0;
// The rows are sorted by type and inode and cut at --max-rows (200): on a host with many namespaces the
// ones a test creates (the newest inodes) would fall past the cut, so tests that look for them show all.
const ALL_ROWS = 100_000;

/** The host node's table as rows: row id → column → value, read back from the served latest keys. */
function tableOf(report: Report): Record<string, Record<string, string>> {
  const latest = report.Host?.nodes?.[hostNodeId(HOST)]?.latest ?? {};
  const rows: Record<string, Record<string, string>> = {};
  for (const [key, entry] of Object.entries(latest)) {
    if (!key.startsWith(TABLE_PREFIX)) continue;
    const parts = key.slice(TABLE_PREFIX.length).split('___');
    // Scope's own rule (a key under the prefix without ___ crashes the app): fail loudly if it ever happens.
    expect(parts, key).toHaveLength(2);
    const [rowId, column] = parts as [string, string];
    (rows[rowId] ??= {})[column] = entry.value;
  }
  return rows;
}

describe('options', () => {
  const resolve = (input: Record<string, unknown>) => resolveOptionValues(plugin.id, plugin.options, input);

  it('validate --types, --max-rows and --source with TypeErrors naming the value', () => {
    expect(resolve({ types: 'net,pid' }).types).toEqual(['net', 'pid']);
    expect(() => resolve({ types: 'net,bogus' })).toThrow(/"bogus"/);
    expect(() => resolve({ maxRows: '0' })).toThrow(TypeError);
    expect(() => resolve({ source: 'ps' })).toThrow(/"ps"/);
    expect(resolve({}).countHoldMs).toBe(10_000);
    expect(resolve({ countHoldMs: '0' }).countHoldMs).toBe(0);
    expect(() => resolve({ countHoldMs: '-1' })).toThrow(TypeError);
    // What parseTypesOption did before core took the list over: validated, deduplicated, in the kernel's order.
    expect(resolve({ types: 'net, mnt,net' }).types).toEqual(['mnt', 'net']);
    expect(() => resolve({ types: ' , ' })).toThrow(/the list is empty/);
  });

  it('are checked when the plugin is started programmatically', async () => {
    const start = (options: Record<string, unknown>) => startTestPlugin(plugin, { hostId: HOST, options: { docker: false, ...options } });
    await expect(start({ types: 'net,uts,nope' })).rejects.toThrow(/"nope"/);
    await expect(start({ maxRows: -1 })).rejects.toThrow(TypeError);
    await expect(start({ source: 'ps' })).rejects.toThrow(/"ps"/);
  });
});

describe('served over the plugin socket, on the real host', () => {
  beforeEach((ctx) => requireComponent(ctx, 'unshare (util-linux) as root', hasUnshare && isRoot, 'run as root with util-linux installed'));

  let test: TestPlugin | undefined;
  let unshared: Unshared | undefined;

  afterEach(async () => {
    await unshared?.kill();
    unshared = undefined;
    await test?.stop();
    test = undefined;
  });

  it('shows namespaces the test creates from the next collection on, and drops them once the processes are gone', async () => {
    test = await startTestPlugin(plugin, { hostId: HOST, options: { docker: false, maxRows: ALL_ROWS } });
    const before = tableOf(await test.running.collectNow());
    expect(Object.keys(before).length).toBeGreaterThan(7);

    unshared = await startUnshare(60);
    // "Within one interval": the very next collection must carry the new rows (no timing is asserted).
    await test.running.collectNow();
    const rows = tableOf(await test.report());
    expect(rows[buildRowId('net', unshared.inodes.net)]).toEqual({
      ns: unshared.inodes.net,
      type: 'net',
      nprocs: '2',
      pid: String(unshared.parentPid),
      user: 'root',
      // The whole command line in the one Command column (cut only past --command-max-chars, 500).
      command: UNSHARE_LINE,
    });
    expect(rows[buildRowId('pid', unshared.inodes.pid)]).toEqual({ ns: unshared.inodes.pid, type: 'pid', nprocs: '1', pid: String(unshared.childPid), user: 'root', command: 'sleep 60' });
    for (const type of ['mnt', 'uts', 'ipc'] as const) expect(rows[buildRowId(type, unshared.inodes[type])]?.['type']).toBe(type);

    const inodes = Object.values(unshared.inodes);
    await unshared.kill();
    unshared = undefined;
    await test.running.collectNow();
    const after = tableOf(await test.report());
    expect(Object.values(after).filter((row) => inodes.includes(row['ns'] ?? ''))).toEqual([]);
  });

  it('is refreshed by the schedule too (no collectNow), and the doctor finds nothing wrong', async () => {
    test = await startTestPlugin(plugin, { hostId: HOST, intervalMs: 300, logLevel: 'debug', options: { docker: false, maxRows: ALL_ROWS } });
    unshared = await startUnshare(60);
    const id = buildRowId('uts', unshared.inodes.uts);
    await test.waitForReport((report) => tableOf(report)[id] !== undefined, 10_000);
    const diagnosis = await test.doctor();
    expect(diagnosis.status).toBe('ok');
    expect(diagnosis.violations.filter((v) => v.kind !== 'note')).toEqual([]);
    // Skipped processes (gone mid-scan, or unreadable like this VM's pid 1) are only counted, at debug level.
    expect(test.logs.some((line) => / debug "namespace scan" .*processes=\d+ skipped=\d+/.test(line))).toBe(true);
    expect(test.logs.filter((line) => / (warn|error) /.test(line))).toEqual([]);
  });

  it('limits rows with a final "N more" row and reports the total, for only the selected types', async () => {
    test = await startTestPlugin(plugin, { hostId: HOST, options: { docker: false, types: 'mnt,net', maxRows: 2 } });
    await test.running.collectNow();
    const report = await test.report();
    const rows = tableOf(report);
    const total = Number(report.Host?.nodes?.[hostNodeId(HOST)]?.latest?.[TOTAL_KEY]?.value);
    expect(Object.keys(rows)).toHaveLength(3);
    expect(Object.keys(rows).at(-1)).toBe(MORE_ROW_ID);
    expect(rows[MORE_ROW_ID]?.['ns']).toBe(`${total - 2} more`);
    expect(new Set(Object.entries(rows).filter(([id]) => id !== MORE_ROW_ID).map(([, row]) => row['type']))).toEqual(new Set(['mnt']));
    expect((await test.doctor()).violations.filter((v) => v.kind !== 'note')).toEqual([]);
  });

  it('serves the same table from the lsns source', async () => {
    test = await startTestPlugin(plugin, { hostId: HOST, options: { docker: false, source: 'lsns', maxRows: ALL_ROWS } });
    unshared = await startUnshare(60);
    await test.running.collectNow();
    const rows = tableOf(await test.report());
    expect(rows[buildRowId('pid', unshared.inodes.pid)]).toEqual({ ns: unshared.inodes.pid, type: 'pid', nprocs: '1', pid: String(unshared.childPid), user: 'root', command: 'sleep 60' });
  });

  it('keeps serving the last good table and logs once when the source fails', async () => {
    test = await startTestPlugin(plugin, { hostId: HOST, procRoot: '/nonexistent-proc', options: { docker: false } });
    const report = await test.report();
    expect(report.Plugins[0]?.id).toBe('host-namespaces');
    expect(tableOf(report)).toEqual({});
    await test.running.collectNow();
    await test.running.collectNow();
    expect(test.logs.filter((line) => line.includes('collection failed'))).toHaveLength(1);
    expect(test.logs.find((line) => line.includes('collection failed'))).toMatch(/cannot list \/nonexistent-proc/);
  });
});

describe('unchanged collections, on a controlled proc tree', () => {
  let test: TestPlugin | undefined;
  let root: string | undefined;
  afterEach(async () => {
    await test?.stop();
    test = undefined;
    if (root) await rm(root, { recursive: true, force: true });
  });

  async function addProcess(pid: number, net: string) {
    const dir = join(root!, String(pid));
    await mkdir(join(dir, 'ns'), { recursive: true });
    for (const [type, inode] of Object.entries({ mnt: '100', net, uts: '103' })) await symlink(`${type}:[${inode}]`, join(dir, 'ns', type));
    await writeFile(join(dir, 'cmdline'), `app${pid}\0`);
  }
  const stampsOf = (report: Report) => new Set(Object.values(report.Host?.nodes?.[hostNodeId(HOST)]?.latest ?? {}).map((entry) => entry.timestamp));

  it('serves the same rows with the newest collection time while nothing changes, and a change on the next collection', async () => {
    root = await mkdtemp(join(tmpdir(), 'hn-index-'));
    await addProcess(7, '101');
    await addProcess(8, '101');
    test = await startTestPlugin(plugin, { hostId: HOST, procRoot: root, options: { docker: false, types: 'mnt,net,uts' } });
    const first = await test.running.collectNow();
    expect(tableOf(first)).toEqual({
      [buildRowId('mnt', '100')]: { ns: '100', type: 'mnt', nprocs: '2', pid: '7', user: expect.any(String), command: 'app7' },
      [buildRowId('net', '101')]: { ns: '101', type: 'net', nprocs: '2', pid: '7', user: expect.any(String), command: 'app7' },
      [buildRowId('uts', '103')]: { ns: '103', type: 'uts', nprocs: '2', pid: '7', user: expect.any(String), command: 'app7' },
    });
    let previous = first;
    for (let i = 0; i < 3; i++) {
      await new Promise((resolve) => setTimeout(resolve, 5));
      const again = await test.running.collectNow();
      expect(tableOf(again)).toEqual(tableOf(first));
      // One collection time on every entry, newer than the previous report's.
      const [stamp] = [...stampsOf(again)];
      expect(stampsOf(again).size).toBe(1);
      expect(stamp! > [...stampsOf(previous)][0]!).toBe(true);
      previous = again;
    }
    // A process in a new net namespace: on the next collection, after the quiet ones.
    await addProcess(9, '201');
    const changed = tableOf(await test.running.collectNow());
    expect(changed[buildRowId('net', '201')]).toMatchObject({ nprocs: '1', pid: '9', command: 'app9' });
    expect(changed[buildRowId('mnt', '100')]).toMatchObject({ nprocs: '3' });
    // And gone on the one after it exited.
    await rm(join(root, '9'), { recursive: true });
    expect(tableOf(await test.running.collectNow())).toEqual(tableOf(first));
  });

  it('holds back a count moved only by processes coming and going (--count-hold-ms), never a new row or an in-place move', async () => {
    root = await mkdtemp(join(tmpdir(), 'hn-index-'));
    await addProcess(7, '101');
    await addProcess(8, '201');
    // An hour: within this test a held count can only be shown by a change that is never held.
    test = await startTestPlugin(plugin, { hostId: HOST, procRoot: root, options: { docker: false, types: 'mnt,net,uts', countHoldMs: 3_600_000 } });
    const first = tableOf(await test.running.collectNow());
    expect(first[buildRowId('mnt', '100')]).toMatchObject({ nprocs: '2' });
    // A process joins existing namespaces: only counts move, the table stays as it was.
    await addProcess(9, '101');
    expect(tableOf(await test.running.collectNow())).toEqual(first);
    // The reader looks at a process again on the collection after it first saw it: pid 9 is found in net 201 now,
    // a move in place (same pid), shown at once with every count as it is.
    await rm(join(root, '9', 'ns', 'net'));
    await symlink('net:[201]', join(root, '9', 'ns', 'net'));
    const moved = tableOf(await test.running.collectNow());
    expect(moved[buildRowId('mnt', '100')]).toMatchObject({ nprocs: '3' });
    expect(moved[buildRowId('net', '101')]).toMatchObject({ nprocs: '1', pid: '7' });
    expect(moved[buildRowId('net', '201')]).toMatchObject({ nprocs: '2', pid: '8' });
    // Another one joins (held), then one in a new namespace comes: the new row and all counts at once.
    await addProcess(10, '101');
    expect(tableOf(await test.running.collectNow())).toEqual(moved);
    await addProcess(11, '301');
    const grown = tableOf(await test.running.collectNow());
    expect(grown[buildRowId('net', '301')]).toMatchObject({ nprocs: '1', pid: '11' });
    expect(grown[buildRowId('net', '101')]).toMatchObject({ nprocs: '2' });
    expect(grown[buildRowId('mnt', '100')]).toMatchObject({ nprocs: '5' });
    // The leader of net 101 exits: a new lowest pid is shown at once, with its count.
    await rm(join(root, '7'), { recursive: true });
    expect(tableOf(await test.running.collectNow())[buildRowId('net', '101')]).toMatchObject({ nprocs: '1', pid: '10', command: 'app10' });
  });

  it('shows a held count once the hold has passed, without another change, and at once with --count-hold-ms 0', async () => {
    root = await mkdtemp(join(tmpdir(), 'hn-index-'));
    await addProcess(7, '101');
    const holdMs = 300;
    test = await startTestPlugin(plugin, { hostId: HOST, procRoot: root, options: { docker: false, types: 'mnt,net,uts', countHoldMs: holdMs } });
    await test.running.collectNow();
    await addProcess(8, '101');
    // Held or not (a slow machine may take longer than the hold between two collections): after the hold, shown.
    await test.running.collectNow();
    await new Promise((resolve) => setTimeout(resolve, holdMs + 50));
    expect(tableOf(await test.running.collectNow())[buildRowId('net', '101')]).toMatchObject({ nprocs: '2' });
    await test.stop();
    test = await startTestPlugin(plugin, { hostId: HOST, procRoot: root, options: { docker: false, types: 'mnt,net,uts', countHoldMs: 0 } });
    await test.running.collectNow();
    await addProcess(9, '101');
    expect(tableOf(await test.running.collectNow())[buildRowId('net', '101')]).toMatchObject({ nprocs: '3' });
  });

  it('keeps serving the table, collection after collection, behind core\'s metrics wrapper (--metrics-listen)', async () => {
    root = await mkdtemp(join(tmpdir(), 'hn-index-'));
    await addProcess(7, '101');
    const hub = createMetricsHub(createLogger({ level: 'silent' }));
    test = await startTestPlugin(hub.instrument(plugin), { hostId: HOST, procRoot: root, options: { docker: false, types: 'mnt,net,uts' } });
    const first = tableOf(await test.running.collectNow());
    expect(Object.keys(first)).toHaveLength(3);
    for (let i = 0; i < 3; i++) expect(tableOf(await test.running.collectNow())).toEqual(first);
    // The series are those of the last collection, unchanged ones included.
    const url = await hub.listen(parseListenAddress('127.0.0.1:0'));
    try {
      const page = await (await fetch(url)).text();
      expect(page).toMatch(/scope_host_namespaces_namespaces\{type="net"\} 1\b/);
      expect(page).toMatch(/scope_host_namespaces_processes\{type="net",namespace="other"\} 1\b/);
    } finally {
      await hub.close();
    }
  });
});

describe('definition', () => {
  let test: TestPlugin | undefined;
  beforeAll(async () => {
    test = await startTestPlugin(plugin, { hostId: HOST, options: { docker: false } });
  });
  afterAll(async () => {
    await test?.stop();
  });

  it('declares a table Scope can render from the served rows, under a prefix no other key or template starts with', async () => {
    const report = await test!.running.collectNow();
    // The template that owns the served rows is the one whose prefix they carry.
    const templates = Object.values(report.Host?.table_templates ?? {});
    const table = templates.find((t) => t.prefix === TABLE_PREFIX);
    expect(table?.type).toBe('multicolumn-table');
    const columns = new Map((table?.columns ?? []).map((c) => [c.id, c]));
    const rows = Object.entries(tableOf(report)).filter(([id]) => id !== MORE_ROW_ID);
    expect(rows.length).toBeGreaterThan(0);
    // Scope shows only declared columns: every served cell has one.
    for (const [id, row] of rows) expect(Object.keys(row).filter((column) => !columns.has(column)), id).toEqual([]);
    // Columns declared as numbers hold numbers (Scope sorts them numerically).
    for (const [column, { dataType }] of columns) {
      if (dataType !== 'number') continue;
      for (const [id, row] of rows) if (row[column] !== undefined) expect(row[column], `${id} ${column}`).toMatch(/^\d+$/);
    }
    // What a user reads: six columns, and a Command in every row (the table cell shows it whole on hover).
    const rendered = renderNode(report, 'Host', hostNodeId(HOST)).tables.find((t) => t.id === 'host-namespaces-table')!;
    expect(rendered.columns.map((c) => c.label)).toEqual(['NS', 'Type', '# Procs', 'PID', 'User', 'Command']);
    expect(rendered.rows.length).toBeGreaterThan(4);
    expect(rendered.rows.filter((row) => !row.cells['Command'])).toEqual([]);
    // A key under the prefix without ___ crashes Scope's app; so does another template whose prefix extends ours.
    const keys = Object.keys(report.Host?.nodes?.[hostNodeId(HOST)]?.latest ?? {});
    expect(keys.filter((key) => key.startsWith(TABLE_PREFIX) && !key.includes('___'))).toEqual([]);
    expect(templates.filter((t) => t !== table && (t.prefix.startsWith(TABLE_PREFIX) || TABLE_PREFIX.startsWith(t.prefix))).map((t) => t.id)).toEqual([]);
  });
});
