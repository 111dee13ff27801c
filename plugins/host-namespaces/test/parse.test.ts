import { readFileSync } from 'node:fs';
import { createReport, guardReport, hostNodeId } from '@scope-plugins/core';
import { describe, expect, it } from 'vitest';
import {
  MORE_ROW_ID,
  NamespaceParseError,
  buildNamespaceTable,
  buildRowId,
  compareWithHost,
  formatNamespaceList,
  parseCmdline,
  parseLsnsJson,
  parseNamespaceLink,
  parsePasswd,
  shortenCommand,
  sortNamespaces,
  validateRowId,
  type NamespaceRecord,
} from '../src/parse.js';

const fixture = (name: string) => readFileSync(new URL(`./fixtures/${name}`, import.meta.url), 'utf8');
const UNSHARE = 'unshare --uts --ipc --net --pid --fork --mount-proc --kill-child sleep 300';

describe('parseNamespaceLink', () => {
  it('reads type and inode from a /proc/<pid>/ns link', () => {
    expect(parseNamespaceLink('net:[4026531840]')).toEqual({ type: 'net', inode: '4026531840' });
    expect(parseNamespaceLink('cgroup:[4026531835]\n')).toEqual({ type: 'cgroup', inode: '4026531835' });
    expect(parseNamespaceLink('time:[4026531834]')).toEqual({ type: 'time', inode: '4026531834' });
  });

  it('refuses anything else', () => {
    expect(parseNamespaceLink('net:4026531840')).toBeUndefined();
    expect(parseNamespaceLink('pid_for_children:[4026531836]')).toBeUndefined();
    expect(parseNamespaceLink('bogus:[1]')).toBeUndefined();
    expect(parseNamespaceLink('net:[]')).toBeUndefined();
    expect(parseNamespaceLink('/dev/null')).toBeUndefined();
  });
});

describe('parseLsnsJson', () => {
  it('parses the flat --list output of lsns 2.38 (fixture)', () => {
    const records = parseLsnsJson(fixture('lsns-list.json'));
    expect(records.map((r) => `${r.type} ${r.inode}`)).toEqual([
      'mnt 4026531832',
      'mnt 4026531860',
      'mnt 4026532177',
      'net 4026531833',
      'net 4026532181',
      'pid 4026531836',
      'pid 4026532180',
      'uts 4026531838',
      'uts 4026532178',
      'ipc 4026531839',
      'ipc 4026532179',
      'user 4026531837',
      'cgroup 4026531835',
      'time 4026531834',
    ]);
    expect(records.find((r) => r.inode === '4026532180')).toEqual({ inode: '4026532180', type: 'pid', nprocs: 1, pid: 10118, user: 'root', command: 'sleep 300' });
    expect(records.find((r) => r.inode === '4026532181')).toEqual({ inode: '4026532181', type: 'net', nprocs: 2, pid: 10116, user: 'root', command: UNSHARE });
    expect(records.find((r) => r.inode === '4026531860')).toEqual({ inode: '4026531860', type: 'mnt', nprocs: 1, pid: 25, user: 'root', command: 'kdevtmpfs' });
  });

  it('flattens the default tree output (children) to the same namespaces', () => {
    const tree = parseLsnsJson(fixture('lsns-tree.json'));
    const list = parseLsnsJson(fixture('lsns-list.json'));
    const key = (r: NamespaceRecord) => `${r.type}:${r.inode}:${r.pid}:${r.command}`;
    expect(tree.map(key)).toEqual(list.map(key));
  });

  it('accepts numeric strings (older lsns) and skips unknown types', () => {
    const text = JSON.stringify({
      namespaces: [
        { ns: '4026531840', type: 'net', nprocs: '3', pid: '7', user: 'root', command: 'x' },
        { ns: 4026532999, type: 'futurens', nprocs: 1, pid: 9, user: 'root', command: 'y' },
      ],
    });
    expect(parseLsnsJson(text)).toEqual([{ inode: '4026531840', type: 'net', nprocs: 3, pid: 7, user: 'root', command: 'x' }]);
  });

  it('throws a clear error for malformed output', () => {
    expect(() => parseLsnsJson('lsns: failed')).toThrow(NamespaceParseError);
    expect(() => parseLsnsJson('{"x": 1}')).toThrow(/expected \{"namespaces": \[\.\.\.\]\}/);
    expect(() => parseLsnsJson('{"namespaces": [{"ns": -1, "type": "net", "nprocs": 1, "pid": 1}]}')).toThrow(/namespaces\[0\]\.ns must be a non-negative integer, got -1/);
    expect(() => parseLsnsJson('{"namespaces": [3]}')).toThrow(/namespaces\[0\] must be an object/);
  });
});

describe('small parsers', () => {
  it('parseCmdline joins NUL-separated arguments', () => {
    expect(parseCmdline('sleep\u000060\u0000')).toBe('sleep 60');
    expect(parseCmdline('')).toBe('');
    expect(parseCmdline('nginx: worker process\u0000\u0000')).toBe('nginx: worker process');
  });

  it('parsePasswd maps uids to the first name', () => {
    const users = parsePasswd('root:x:0:0:root:/root:/bin/bash\n# c\ntoor:x:0:0::/:/bin/sh\nnobody:x:65534:65534::/:/usr/sbin/nologin\nbroken\n');
    expect([...users]).toEqual([
      [0, 'root'],
      [65534, 'nobody'],
    ]);
  });


  it('shortenCommand cuts at a character count with an ellipsis', () => {
    expect(shortenCommand('sleep 60', 60)).toBe('sleep 60');
    expect(shortenCommand('abcdefgh', 5)).toBe('abcd…');
    expect([...shortenCommand('ééééééé', 4)]).toHaveLength(4);
  });
});

describe('row ids', () => {
  it('are <type digit>-<type>-<20-digit inode>, sorting by type then inode', () => {
    expect(buildRowId('net', '4026531840')).toBe('1-net-00000000004026531840');
    expect(buildRowId('time', '7')).toBe('7-time-00000000000000000007');
    const ids = [buildRowId('mnt', '999'), buildRowId('mnt', '1000'), buildRowId('net', '5')];
    expect([...ids].sort()).toEqual(ids);
  });

  it('refuses ids that could break Scope (___ or other characters)', () => {
    expect(() => validateRowId('a___b')).toThrow(TypeError);
    expect(() => validateRowId('net_1')).toThrow(TypeError);
    expect(() => validateRowId('')).toThrow(TypeError);
    expect(() => buildRowId('net___x', '1')).toThrow(/namespace type must be one of/);
    expect(() => buildRowId('net', '12___3')).toThrow(/decimal digits/);
    expect(validateRowId(MORE_ROW_ID)).toBe(MORE_ROW_ID);
  });
});

describe('buildNamespaceTable', () => {
  const records = parseLsnsJson(fixture('lsns-list.json'));

  it('builds one row per namespace with every column, in type-then-inode order', () => {
    const table = buildNamespaceTable(records);
    expect(table.total).toBe(records.length);
    expect(table.hidden).toBe(0);
    expect(table.rejected).toEqual([]);
    const ids = Object.keys(table.rows);
    expect(ids).toEqual([...ids].sort());
    expect(ids.map((id) => table.rows[id]?.['ns'])).toEqual(sortNamespaces(records).map((r) => r.inode));
    expect(table.rows['2-pid-00000000004026532180']).toEqual({ ns: '4026532180', type: 'pid', nprocs: 1, pid: 10118, user: 'root', command: 'sleep 300' });
    expect(table.rows['1-net-00000000004026532181']).toEqual({
      ns: '4026532181',
      type: 'net',
      nprocs: 2,
      pid: 10116,
      user: 'root',
      // One Command column, never empty: the whole command line (the UI cuts it to the column and shows it on hover).
      command: UNSHARE,
    });
    expect(Object.values(table.rows).every((row) => typeof row['command'] === 'string' && row['command'] !== '')).toBe(true);
  });

  it('cuts a command only past --command-max-chars, with an ellipsis, in the same column', () => {
    const table = buildNamespaceTable(records, { commandMaxChars: 60 });
    expect(table.rows['1-net-00000000004026532181']?.['command']).toBe(`${UNSHARE.slice(0, 59)}…`);
    expect(table.rows['2-pid-00000000004026532180']?.['command']).toBe('sleep 300');
  });

  it('keeps only the selected types', () => {
    const table = buildNamespaceTable(records, { types: ['net', 'pid'] });
    expect(Object.values(table.rows).map((row) => row['type'])).toEqual(['net', 'net', 'pid', 'pid']);
  });

  it('caps the rows and adds a final "N more" row', () => {
    const table = buildNamespaceTable(records, { maxRows: 3 });
    expect(Object.keys(table.rows)).toEqual(['0-mnt-00000000004026531832', '0-mnt-00000000004026531860', '0-mnt-00000000004026532177', MORE_ROW_ID]);
    expect(table.hidden).toBe(records.length - 3);
    expect(table.rows[MORE_ROW_ID]).toEqual({ ns: `${records.length - 3} more`, command: `${records.length - 3} more namespaces not shown (row limit 3, --max-rows)` });
  });

  it('refuses a record whose row id would not be safe, and still builds the others', () => {
    const bad = [
      { inode: '12___3', type: 'net', nprocs: 1, pid: 1, user: 'root', command: 'x' },
      { inode: '5', type: 'net___evil', nprocs: 1, pid: 1, user: 'root', command: 'x' },
    ] as unknown as NamespaceRecord[];
    const table = buildNamespaceTable([...records, ...bad], { types: undefined });
    // The bad type is not a selected type, so only the bad inode reaches the id check.
    expect(table.rejected.map((r) => r.reason)).toEqual(['namespace inode must be 1 to 20 decimal digits, got "12___3"']);
    expect(Object.keys(table.rows)).toHaveLength(records.length);
    expect(Object.keys(table.rows).some((id) => id.includes('___'))).toBe(false);
  });

  it('gives latest keys that follow the multicolumn rules and pass the report guard', () => {
    const prefix = 'host-namespaces_ns_';
    const report = createReport(new Date('2026-11-22T03:16:07.000Z'));
    const node = report.topology('Host').node(hostNodeId('h'));
    node.latest('host-namespaces_total', records.length).table(prefix, buildNamespaceTable(records, { maxRows: 5 }).rows);
    const keys = Object.keys(node.node.latest ?? {}).filter((key) => key.startsWith(prefix));
    expect(keys.length).toBeGreaterThan(0);
    for (const key of keys) {
      const rest = key.slice(prefix.length);
      expect(rest.split('___')).toHaveLength(2);
      expect(['ns', 'type', 'nprocs', 'pid', 'user', 'command']).toContain(rest.split('___')[1]);
    }
    report.topology('Host').tableTemplate({ id: 't', label: 'Namespaces', prefix, type: 'multicolumn-table', columns: [{ id: 'ns', label: 'NS' }] });
    const body = { Plugins: [{ id: 'host-namespaces', label: 'x', interfaces: ['reporter' as const], api_version: '1' as const }], ...report.build() };
    expect(guardReport(body, { pluginId: 'host-namespaces', hostId: 'h' }).violations).toEqual([]);
  });

  it('the guard would have caught a key under the prefix without ___', () => {
    const prefix = 'host-namespaces_ns_';
    const report = createReport(new Date('2026-11-22T03:16:07.000Z'));
    report.topology('Host').tableTemplate({ id: 't', label: 'Namespaces', prefix, type: 'multicolumn-table', columns: [{ id: 'ns', label: 'NS' }] });
    report.topology('Host').node(hostNodeId('h')).latest(`${prefix}total`, 3);
    const body = { Plugins: [{ id: 'host-namespaces', label: 'x', interfaces: ['reporter' as const], api_version: '1' as const }], ...report.build() };
    const { violations, report: guarded } = guardReport(body, { pluginId: 'host-namespaces', hostId: 'h' });
    expect(violations.length).toBeGreaterThan(0);
    expect(guarded.Host?.nodes?.['h;<host>']?.latest?.[`${prefix}total`]).toBeUndefined();
  });
});

describe('container namespaces', () => {
  const host = { mnt: '1', net: '2', pid: '3', uts: '4', ipc: '5', user: '6', cgroup: '7', time: '8' };

  it('flags every type a container shares with the host, time included, as its namespaces table marks them', () => {
    expect(compareWithHost({ ...host, mnt: '11', pid: '13', ipc: '15', uts: '14', cgroup: '17' }, host)).toEqual({
      namespaces: { ...host, mnt: '11', pid: '13', ipc: '15', uts: '14', cgroup: '17' },
      sharedWithHost: ['net', 'user', 'time'],
    });
    expect(compareWithHost({ net: '12' }, host).sharedWithHost).toEqual([]);
  });

  it('formats namespaces in type order', () => {
    expect(formatNamespaceList({ net: '2', mnt: '1' })).toBe('mnt:[1] net:[2]');
  });
});
