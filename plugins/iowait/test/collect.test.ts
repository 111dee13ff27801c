import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger } from '@scope-plugins/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createIowaitReader, readBlockDeviceInfo, type DiskInfo, type IowaitReaderOptions } from '../src/collect.js';
import { DEFAULT_DISK_EXCLUDE } from '../src/parse.js';

const fixture = (name: string) => readFile(new URL(`./fixtures/${name}`, import.meta.url), 'utf8');

// A real directory tree standing in for /proc and /sys, rewritten between reads: no module is mocked.
let root: string;
let procRoot: string;
let sysRoot: string;
let logs: string[];
let nowMs: number;

async function put(path: string, text: string) {
  await mkdir(join(path, '..'), { recursive: true });
  await writeFile(path, text);
}

let readers: Array<{ close(): void }> = [];

function reader(options: Partial<IowaitReaderOptions> = {}) {
  const created = createIowaitReader({
    procRoot,
    sysRoot,
    log: createLogger({ level: 'debug', write: (line) => logs.push(line) }),
    diskExclude: new RegExp(DEFAULT_DISK_EXCLUDE),
    clock: () => nowMs,
    ...options,
  });
  readers.push(created);
  return created;
}

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'iowait-collect-'));
  procRoot = join(root, 'proc');
  sysRoot = join(root, 'sys');
  await put(join(procRoot, 'stat'), await fixture('proc-stat.txt'));
  await put(join(procRoot, 'diskstats'), await fixture('diskstats.txt'));
  logs = [];
  nowMs = 1_000_000;
});

afterEach(async () => {
  // The readers keep their /proc files open between reads.
  for (const r of readers) r.close();
  readers = [];
  await rm(root, { recursive: true, force: true });
});

describe('createIowaitReader', () => {
  it('waits for a second read, then gives shares and rates since the first (host without PSI: no rows, no error)', async () => {
    const r = reader();
    expect(await r.read()).toEqual({ fresh: false });
    await put(join(procRoot, 'stat'), await fixture('proc-stat-after-dd.txt'));
    await put(join(procRoot, 'diskstats'), await fixture('diskstats-after-dd.txt'));
    nowMs += 1000;
    const sample = await r.read();
    expect(sample.fresh).toBe(true);
    expect(sample.psi).toBeUndefined();
    expect(sample.cpu?.percent.iowait).toBeCloseTo((25 / 111) * 100, 10);
    expect(sample.disks).toEqual([{ name: 'vda', readsPerSec: 2, writesPerSec: 9001, utilPercent: 39.2, avgWaitMs: 448 / 9003 }]);
    const psiLines = logs.filter((l) => l.includes('no PSI'));
    expect(psiLines).toHaveLength(1);
    expect(psiLines[0]).toMatch(/ info .*pressure\/io cannot be read/);
    expect(logs.filter((l) => / (warn|error) /.test(l))).toEqual([]);
  });

  it('reads a file on a filesystem that could block through the thread pool, and says so once', async () => {
    // A cgroup file stands in for a FUSE one (lxcfs): a real file on a filesystem not known never to block.
    const target = ['/sys/fs/cgroup/cpu/cpu.shares', '/sys/fs/cgroup/unified/cgroup.controllers', '/sys/fs/cgroup/cgroup.controllers'].find((p) => existsSync(p));
    expect(target).toBeDefined();
    await mkdir(join(procRoot, 'pressure'), { recursive: true });
    await symlink(target!, join(procRoot, 'pressure', 'io'));
    const r = reader();
    for (let i = 0; i < 3; i++) {
      // Not PSI text: the rows are left out, but the file was read (a parse error, not "cannot be read").
      expect((await r.read()).psi).toBeUndefined();
      nowMs += 1000;
    }
    const lines = logs.filter((l) => l.includes('could block a read'));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/ info .*pressure\/io is on a filesystem that could block a read \(statfs type 0x[0-9a-f]+\): read through the thread pool/);
    expect(logs.filter((l) => l.includes('cannot parse'))).toHaveLength(1);
    expect(logs.filter((l) => l.includes('no PSI'))).toEqual([]);
  });

  it('on a kernel without PSI, looks for pressure/io again only once a minute', async () => {
    const r = reader();
    await r.read();
    // It appears (a fixture tree; a real kernel cannot grow PSI at runtime): not looked for within the minute.
    await put(join(procRoot, 'pressure', 'io'), await fixture('pressure-io-after-dd.txt'));
    for (const step of [1000, 30_000, 28_000]) {
      nowMs += step;
      expect((await r.read()).psi).toBeUndefined();
    }
    nowMs += 1000;
    expect((await r.read()).psi?.some.avg60).toBe(1.08);
    expect(logs.filter((l) => l.includes('no PSI'))).toHaveLength(1);
  });

  it('reuses the last values for a read right after the previous one (a control\'s re-collect)', async () => {
    const r = reader();
    await r.read();
    await put(join(procRoot, 'stat'), await fixture('proc-stat-after-dd.txt'));
    nowMs += 1000;
    const first = await r.read();
    await put(join(procRoot, 'stat'), await fixture('proc-stat-iowait-backwards.txt'));
    nowMs += 50;
    const again = await r.read();
    expect(again.fresh).toBe(false);
    expect(again.cpu).toEqual(first.cpu);
  });

  it('counts a backwards iowait counter as 0 and says so once at debug level', async () => {
    const r = reader();
    await r.read();
    await put(join(procRoot, 'stat'), await fixture('proc-stat-iowait-backwards.txt'));
    nowMs += 1000;
    const sample = await r.read();
    expect(sample.cpu?.percent.iowait).toBe(0);
    expect(sample.cpu?.clamped).toEqual(['iowait']);
    expect(logs.filter((l) => l.includes('went backwards'))).toHaveLength(1);
    expect(logs.find((l) => l.includes('went backwards'))).toMatch(/ debug .*fields=iowait/);
  });

  it('reads PSI when the kernel has it, and a broken PSI file costs only the PSI rows', async () => {
    await put(join(procRoot, 'pressure', 'io'), await fixture('pressure-io-after-dd.txt'));
    const r = reader();
    expect((await r.read()).psi).toEqual({ some: { avg10: 0, avg60: 1.08, avg300: 1.02, totalUs: 8287884 }, full: { avg10: 0, avg60: 0.92, avg300: 0.88, totalUs: 7300529 } });
    await put(join(procRoot, 'pressure', 'io'), 'garbage\n');
    nowMs += 1000;
    const sample = await r.read();
    expect(sample.psi).toBeUndefined();
    expect(logs.filter((l) => l.includes('cannot parse'))).toHaveLength(1);
  });

  it('leaves loop/ram/zram and partitions out of a many-disk host unless asked', async () => {
    await put(join(procRoot, 'diskstats'), await fixture('diskstats-many.txt'));
    const later = await fixture('diskstats-many-later.txt');
    const names = later.trim().split('\n').map((l) => l.trim().split(/\s+/)[2]!);
    for (const name of names.filter((n) => /^(sd[a-z]+1|nvme\d+n1p1)$/.test(n))) await put(join(sysRoot, 'class', 'block', name, 'partition'), '1\n');

    const byDefault = reader();
    await byDefault.read();
    await put(join(procRoot, 'diskstats'), later);
    nowMs += 2000;
    const shown = (await byDefault.read()).disks?.map((d) => d.name);
    expect(shown).toEqual(names.filter((n) => !/^(loop|ram|zram)\d+$/.test(n) && !/^(sd[a-z]+1|nvme\d+n1p1)$/.test(n)));
    expect(shown).toContain('nbd10');
    expect(shown).toHaveLength(28 + 12 + 4);

    await put(join(procRoot, 'diskstats'), await fixture('diskstats-many.txt'));
    const everything = reader({ diskExclude: undefined, includePartitions: true });
    await everything.read();
    await put(join(procRoot, 'diskstats'), later);
    nowMs += 2000;
    expect((await everything.read()).disks?.map((d) => d.name)).toEqual(names);
  });

  it('adds device size and kind from the metadata source, refreshed in the background', async () => {
    let calls = 0;
    const info = new Map<string, DiskInfo>([['vda', { sizeBytes: 274877906944, physical: 'HDD' }]]);
    const r = reader({ readDiskInfo: async () => (calls++, info), diskInfoRefreshMs: 60_000 });
    await r.read();
    await r.settle();
    await put(join(procRoot, 'stat'), await fixture('proc-stat-after-dd.txt'));
    await put(join(procRoot, 'diskstats'), await fixture('diskstats-after-dd.txt'));
    nowMs += 1000;
    expect((await r.read()).disks).toEqual([{ name: 'vda', readsPerSec: 2, writesPerSec: 9001, utilPercent: 39.2, avgWaitMs: 448 / 9003, info: { sizeBytes: 274877906944, physical: 'HDD' } }]);
    expect(calls).toBe(1);
  });

  it('re-reads device size and kind when the device list of /proc/diskstats changes, not at every read', async () => {
    const sys = (name: string, sectors: number, rotational: string) =>
      Promise.all([put(join(sysRoot, 'class', 'block', name, 'size'), `${sectors}\n`), put(join(sysRoot, 'class', 'block', name, 'queue', 'rotational'), `${rotational}\n`)]);
    await sys('vda', 2048, '1');
    let calls = 0;
    // The real sysfs reader on a real tree, counted; the periodic refresh is an hour away.
    const r = reader({ readDiskInfo: () => (calls++, readBlockDeviceInfo(sysRoot)), diskInfoRefreshMs: 3_600_000 });
    const before = await fixture('diskstats.txt');
    const after = await fixture('diskstats-after-dd.txt');
    await r.read();
    await r.settle();
    for (let i = 0; i < 3; i++) {
      await put(join(procRoot, 'diskstats'), i % 2 === 0 ? after : before);
      nowMs += 1000;
      expect((await r.read()).disks?.map((d) => [d.name, d.info])).toEqual([['vda', { sizeBytes: 2048 * 512, physical: 'HDD' }]]);
      await r.settle();
    }
    expect(calls).toBe(1);
    // A disk is attached: sysfs has it, then /proc/diskstats lists it.
    await sys('vdb', 4096, '0');
    const vdb = ' 254      16 vdb 10 0 80 5 20 0 160 9 0 12 14 0 0 0 0 0 0\n';
    await put(join(procRoot, 'diskstats'), after + vdb);
    nowMs += 1000;
    await r.read();
    await r.settle();
    expect(calls).toBe(2);
    await put(join(procRoot, 'diskstats'), after + vdb.replace(' 10 0 80', ' 15 0 120'));
    nowMs += 1000;
    expect((await r.read()).disks?.map((d) => [d.name, d.info])).toEqual([
      ['vda', { sizeBytes: 2048 * 512, physical: 'HDD' }],
      ['vdb', { sizeBytes: 4096 * 512, physical: 'SSD' }],
    ]);
    await r.settle();
    expect(calls).toBe(2);
  });

  it('keeps serving the table without metadata when the metadata source fails, and says so once', async () => {
    const r = reader({ readDiskInfo: async () => Promise.reject(new Error('lsblk: not found')), diskInfoRefreshMs: 500 });
    for (let i = 0; i < 3; i++) {
      await r.read();
      await r.settle();
      nowMs += 1000;
    }
    const lines = logs.filter((l) => l.includes('cannot read block device metadata'));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain('lsblk: not found');
  });

  it('says which file and what to do when /proc/stat cannot be read', async () => {
    const r = reader({ procRoot: join(root, 'nowhere') });
    await expect(r.read()).rejects.toMatchObject({ name: 'ScopePluginError', code: 'COLLECT_FAILED' });
    await expect(r.read()).rejects.toThrow(`cannot read ${join(root, 'nowhere', 'stat')} (is --proc-root right? in a container, mount the host's /proc)`);
  });

  it('serves CPU shares without a table when /proc/diskstats is missing', async () => {
    await rm(join(procRoot, 'diskstats'));
    const r = reader();
    await r.read();
    await put(join(procRoot, 'stat'), await fixture('proc-stat-after-dd.txt'));
    nowMs += 1000;
    const sample = await r.read();
    expect(sample.disks).toBeUndefined();
    expect(sample.cpu?.totalTicks).toBe(111);
    expect(logs.filter((l) => l.includes('block device table is left out'))).toHaveLength(1);
  });
});
