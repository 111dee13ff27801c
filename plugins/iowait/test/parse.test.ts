import { readFileSync, readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  DEFAULT_DISK_EXCLUDE,
  computeCpuShares,
  computeDiskRates,
  diskRowId,
  formatNumber,
  parseDiskstats,
  parseProcStat,
  parseProcStatTotal,
  parsePsi,
} from '../src/parse.js';

const fixture = (name: string) => readFileSync(new URL(`./fixtures/${name}`, import.meta.url), 'utf8');

describe('parseProcStat', () => {
  it('reads the aggregate and per-CPU lines of a real /proc/stat', () => {
    const stat = parseProcStat(fixture('proc-stat.txt'));
    expect(stat.total).toEqual({ user: 17896, nice: 0, system: 6869, idle: 135407, iowait: 943, irq: 0, softirq: 184, steal: 896, guest: 0, guestNice: 0 });
    expect(Object.keys(stat.cpus)).toEqual(['cpu0', 'cpu1']);
    expect(stat.cpus['cpu1']).toEqual({ user: 9948, nice: 0, system: 3876, idle: 65813, iowait: 794, irq: 0, softirq: 166, steal: 481, guest: 0, guestNice: 0 });
  });

  it('fills fields an old kernel does not print with 0', () => {
    expect(parseProcStat(fixture('proc-stat-2.4.txt')).total).toEqual({ user: 2255, nice: 13, system: 1811, idle: 90012, iowait: 0, irq: 0, softirq: 0, steal: 0, guest: 0, guestNice: 0 });
  });

  it('refuses text without a cpu line, and names a bad counter', () => {
    expect(() => parseProcStat('intr 1 2 3\nctxt 4\n')).toThrow('/proc/stat has no aggregate "cpu" line');
    expect(() => parseProcStat('cpu  1 2 x 4 5\n')).toThrow('/proc/stat cpu system: expected a non-negative integer, got "x"');
    expect(() => parseProcStat('cpu  1 2\n')).toThrow('expected at least 4 cpu time fields, got 2');
  });
});

describe('parseProcStatTotal', () => {
  it('gives the aggregate line of every committed /proc/stat fixture, as parseProcStat does', () => {
    const files = readdirSync(new URL('./fixtures/', import.meta.url)).filter((name) => name.startsWith('proc-stat'));
    expect(files.length).toBeGreaterThanOrEqual(5);
    for (const name of files) expect(parseProcStatTotal(fixture(name)), name).toEqual(parseProcStat(fixture(name)).total);
  });

  it('refuses text without a cpu line, and names a bad counter', () => {
    expect(() => parseProcStatTotal('cpu0 1 2 3 4\nintr 1 2 3\n')).toThrow('/proc/stat has no aggregate "cpu" line');
    expect(() => parseProcStatTotal('cpu  1 2 x 4 5\n')).toThrow('/proc/stat cpu system: expected a non-negative integer, got "x"');
    expect(() => parseProcStatTotal('cpu  1 2\ncpu0 1 2 3 4\n')).toThrow('expected at least 4 cpu time fields, got 2');
  });
});

describe('computeCpuShares', () => {
  it('gives the shares of the ticks between two real reads (dd running in between)', () => {
    const shares = computeCpuShares(parseProcStat(fixture('proc-stat.txt')).total, parseProcStat(fixture('proc-stat-after-dd.txt')).total);
    // deltas: user 1, system 21, idle 60, iowait 25, softirq 3, steal 1 = 111 ticks
    expect(shares?.totalTicks).toBe(111);
    expect(shares?.clamped).toEqual([]);
    expect(shares?.percent.iowait).toBeCloseTo((25 / 111) * 100, 10);
    expect(shares?.percent.idle).toBeCloseTo((60 / 111) * 100, 10);
    const sum = ['user', 'nice', 'system', 'idle', 'iowait', 'irq', 'softirq', 'steal'].reduce((s, f) => s + shares!.percent[f as 'user'], 0);
    expect(sum).toBeCloseTo(100, 10);
  });

  it('clamps an iowait counter that went backwards to 0, never negative', () => {
    const shares = computeCpuShares(parseProcStat(fixture('proc-stat.txt')).total, parseProcStat(fixture('proc-stat-iowait-backwards.txt')).total);
    expect(shares?.clamped).toEqual(['iowait']);
    expect(shares?.percent.iowait).toBe(0);
    // user 1 + system 21 + idle 128 + softirq 3 + steal 1; the lost iowait is not subtracted from the total
    expect(shares?.totalTicks).toBe(154);
    expect(shares?.percent.idle).toBeCloseTo((128 / 154) * 100, 10);
  });

  it('leaves guest and guest_nice out of the total (they are already inside user and nice)', () => {
    const shares = computeCpuShares(parseProcStat(fixture('proc-stat-guest-before.txt')).total, parseProcStat(fixture('proc-stat-guest-after.txt')).total);
    expect(shares?.totalTicks).toBe(200);
    expect(shares?.percent.iowait).toBeCloseTo(5, 10);
    expect(shares?.percent.guest).toBeCloseTo(20, 10);
  });

  it('gives nothing when no tick elapsed (never a since-boot average)', () => {
    const stat = parseProcStat(fixture('proc-stat.txt')).total;
    expect(computeCpuShares(stat, stat)).toBeUndefined();
  });
});

describe('parsePsi', () => {
  it('reads a real /proc/pressure/io', () => {
    expect(parsePsi(fixture('pressure-io-after-dd.txt'))).toEqual({
      some: { avg10: 0, avg60: 1.08, avg300: 1.02, totalUs: 8287884 },
      full: { avg10: 0, avg60: 0.92, avg300: 0.88, totalUs: 7300529 },
    });
  });

  it('accepts a file with only a "some" line', () => {
    expect(parsePsi('some avg10=1.50 avg60=0.20 avg300=0.05 total=1234\n')).toEqual({ some: { avg10: 1.5, avg60: 0.2, avg300: 0.05, totalUs: 1234 } });
  });

  it('names what is wrong in a bad file', () => {
    expect(() => parsePsi('')).toThrow('PSI file has no "some" line');
    expect(() => parsePsi('half avg10=1\n')).toThrow('expected "some" or "full" first');
    expect(() => parsePsi('some avg10=abc avg60=0 avg300=0 total=1\n')).toThrow('avg10 is not a number ("abc")');
    expect(() => parsePsi('some avg10=1 avg60=0 total=1\n')).toThrow('avg300 is missing');
  });
});

describe('parseDiskstats', () => {
  it('reads every device of a real /proc/diskstats (20 fields)', () => {
    const disks = parseDiskstats(fixture('diskstats.txt'));
    expect(disks.map((d) => d.name)).toEqual(['loop0', 'loop1', 'loop2', 'loop3', 'loop4', 'loop5', 'loop6', 'loop7', 'vda', 'zram0']);
    expect(disks.find((d) => d.name === 'vda')).toEqual({
      major: 254,
      minor: 0,
      name: 'vda',
      readsCompleted: 88985,
      readsMerged: 29295,
      sectorsRead: 4298146,
      readMs: 32746,
      writesCompleted: 23931,
      writesMerged: 35251,
      sectorsWritten: 2218128,
      writeMs: 21630,
      inFlight: 0,
      ioMs: 15468,
      weightedIoMs: 55426,
      discardsCompleted: 5523,
      discardMs: 854,
    });
  });

  it('reads the 14-field format of kernels before 4.18 (no discards)', () => {
    const [sda] = parseDiskstats(fixture('diskstats-4.14.txt'));
    expect(sda).toMatchObject({ name: 'sda', readsCompleted: 1200, writesCompleted: 400, ioMs: 900, weightedIoMs: 1400, discardsCompleted: 0, discardMs: 0 });
  });

  it('skips the lines of devices a filter leaves out, before reading their counters', () => {
    const all = parseDiskstats(fixture('diskstats.txt'));
    const shown = parseDiskstats(fixture('diskstats.txt'), (name) => !name.startsWith('loop'));
    expect(shown).toEqual(all.filter((d) => !d.name.startsWith('loop')));
    expect(shown.map((d) => d.name)).toEqual(['vda', 'zram0']);
    // A malformed line of a device left out costs nothing; one of a device kept still throws.
    expect(parseDiskstats('   7 0 loop0 1 2 3\n', (name) => name !== 'loop0')).toEqual([]);
    expect(() => parseDiskstats('   8 0 sda 1 2 3\n', (name) => name !== 'loop0')).toThrow('expected at least 14 fields, got 6');
  });

  it('reads counters in place exactly as Number() would, beyond 2^53 too, whatever the blanks between them', () => {
    const big = '18446744073709551615';
    const [sda] = parseDiskstats(`8\t0 sda ${big} 9007199254740993 3 4 5 6 7 8 9 10 11\n`);
    expect([sda!.readsCompleted, sda!.readsMerged, sda!.sectorsRead, sda!.weightedIoMs]).toEqual([Number(big), Number('9007199254740993'), 3, 11]);
    expect(parseProcStatTotal(`intr 1\n\tcpu\t${big} 2  3 4\r\n`)).toMatchObject({ user: Number(big), nice: 2, system: 3, idle: 4, iowait: 0 });
  });

  it('names a bad line', () => {
    expect(() => parseDiskstats('   8 0 sda 1 2 3\n')).toThrow('expected at least 14 fields, got 6');
    expect(() => parseDiskstats('   8 0 sda 1 2 3 4 5 6 7 -8 9 10 11\n')).toThrow('/proc/diskstats sda writeMs: expected a non-negative integer, got "-8"');
  });
});

describe('computeDiskRates', () => {
  it('gives iostat-style rates between two real reads (dd wrote through vda)', () => {
    const rates = computeDiskRates(parseDiskstats(fixture('diskstats.txt')), parseDiskstats(fixture('diskstats-after-dd.txt')), 1000);
    const vda = rates.find((r) => r.name === 'vda');
    // 2 reads, 9001 writes, 3000 flushes are not counted as I/Os; io time 392 ms of 1000; wait (0 + 448 ms) / 9003
    expect(vda).toEqual({ name: 'vda', readsPerSec: 2, writesPerSec: 9001, utilPercent: 39.2, avgWaitMs: 448 / 9003 });
    expect(rates.find((r) => r.name === 'loop0')).toEqual({ name: 'loop0', readsPerSec: 0, writesPerSec: 0, utilPercent: 0, avgWaitMs: 0 });
  });

  it('computes every device of a many-disk host', () => {
    const rates = computeDiskRates(parseDiskstats(fixture('diskstats-many.txt')), parseDiskstats(fixture('diskstats-many-later.txt')), 2000);
    expect(rates).toHaveLength(109);
    rates.forEach((rate, k) => {
      if (/^(loop|ram|zram)/.test(rate.name)) {
        expect(rate).toEqual({ name: rate.name, readsPerSec: 0, writesPerSec: 0, utilPercent: 0, avgWaitMs: 0 });
        return;
      }
      expect(rate.readsPerSec).toBeCloseTo(k, 10);
      expect(rate.writesPerSec).toBeCloseTo(2 * k, 10);
      expect(rate.utilPercent).toBeCloseTo(Math.min(100, k / 2), 10);
      // (3k + 5k) ms over (2k + 4k) I/Os; the k flushes are not counted, as in iostat
      expect(rate.avgWaitMs).toBeCloseTo(4 / 3, 10);
    });
  });

  it('counts counters that went backwards (a re-attached device) as 0, and skips devices not in both reads', () => {
    const before = parseDiskstats(fixture('diskstats-after-dd.txt'));
    const after = parseDiskstats(fixture('diskstats.txt')).filter((d) => d.name !== 'loop7');
    const rates = computeDiskRates(before, [...after, { ...after[0]!, name: 'sdz' }], 1000);
    expect(rates.map((r) => r.name)).not.toContain('loop7');
    expect(rates.map((r) => r.name)).not.toContain('sdz');
    expect(rates.find((r) => r.name === 'vda')).toEqual({ name: 'vda', readsPerSec: 0, writesPerSec: 0, utilPercent: 0, avgWaitMs: 0 });
  });

  it('refuses a non-positive interval', () => {
    expect(() => computeDiskRates([], [], 0)).toThrow(RangeError);
  });
});

describe('diskRowId', () => {
  it('zero-pads numbers so rows sort naturally, and keeps names otherwise', () => {
    const names = parseDiskstats(fixture('diskstats-many.txt')).map((d) => d.name).filter((n) => n.startsWith('nvme') && !n.includes('p'));
    const sorted = [...names].sort((a, b) => (diskRowId(a) < diskRowId(b) ? -1 : 1));
    expect(sorted.slice(0, 3)).toEqual(['nvme0n1', 'nvme1n1', 'nvme2n1']);
    expect(sorted.at(-1)).toEqual('nvme11n1');
    expect(diskRowId('vda')).toBe('vda');
    expect(diskRowId('dm-0')).toBe('dm-000000');
  });

  it('never produces Scope\'s ___ cell separator', () => {
    for (const name of ['a___b', 'x____y', '_____', 'a_b__c']) {
      expect(diskRowId(name)).not.toContain('___');
    }
  });
});

describe('defaults and formatting', () => {
  it('leaves loop, ram and zram devices out by default, and nothing else of a many-disk host', () => {
    const exclude = new RegExp(DEFAULT_DISK_EXCLUDE);
    const names = parseDiskstats(fixture('diskstats-many.txt')).map((d) => d.name);
    expect(names.filter((n) => exclude.test(n))).toEqual([...[...Array(8).keys()].map((i) => `loop${i}`), ...[...Array(16).keys()].map((i) => `ram${i}`), 'zram0']);
  });

  it('formats with at most the given decimals', () => {
    expect([formatNumber(22.522522), formatNumber(0), formatNumber(100), formatNumber(1.005, 1)]).toEqual(['22.52', '0', '100', '1']);
  });
});
