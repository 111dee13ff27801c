/**
 * The only host access of the iowait plugin: reads `<procRoot>/stat`, `<procRoot>/pressure/io`,
 * `<procRoot>/diskstats`, `<sysRoot>/class/block/<dev>/partition`, and (optionally) block device
 * size and kind from `<sysRoot>/class/block/<dev>/`. Keeps the previous read as the baseline for deltas.
 * Every read is synchronous and refuses anything but a regular file (see read-file.ts for why both).
 */
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { Logger } from '@scope-plugins/core';
import { ScopePluginError, describeError } from '@scope-plugins/core';
import {
  computeCpuShares,
  computeDiskRates,
  parseDiskstats,
  parseProcStatTotal,
  parsePsi,
  type CpuShares,
  type CpuTimes,
  type DiskRates,
  type DiskStat,
  type Psi,
} from './parse.js';
import { openKernelFile, readKernelTextOptional, type KernelFile } from './read-file.js';

/** Size and kind of a block device, as lsblk (and systeminformation's blockDevices()) report it. */
export interface DiskInfo {
  sizeBytes: number;
  /** `HDD` (rotational), `SSD` (not rotational) or '' for other types. */
  physical: string;
}

/** Where and how {@link createIowaitReader} reads. */
export interface IowaitReaderOptions {
  procRoot: string;
  sysRoot: string;
  log: Logger;
  /** Devices whose name matches are left out of the table; undefined keeps all. */
  diskExclude?: RegExp | undefined;
  /** Keep partitions in the table. @default false */
  includePartitions?: boolean;
  /** Where device size/kind comes from; undefined disables it. @default readBlockDeviceInfo */
  readDiskInfo?: (() => Promise<Map<string, DiskInfo>>) | undefined;
  /** How often device metadata is refreshed besides whenever /proc/diskstats' device list changes. @default 300_000 */
  diskInfoRefreshMs?: number;
  /** Reads closer than this to the baseline reuse the last values (a control's immediate re-collect). @default 200 */
  minSampleMs?: number;
  /** Monotonic clock in ms. @default performance.now */
  clock?: () => number;
}

/** One device row for the table. */
export interface DiskRow extends DiskRates {
  info?: DiskInfo;
}

/** What one read produced. */
export interface HostSample {
  /** Shares since the baseline; undefined until a second read (never a since-boot average). */
  cpu?: CpuShares;
  /** True when `cpu` was computed by this read (push it to the history); false when reused. */
  fresh: boolean;
  /** Undefined when the kernel has no /proc/pressure/io or it cannot be read. */
  psi?: Psi;
  /** Undefined until a second read, or when /proc/diskstats is missing. */
  disks?: DiskRow[];
}

/** A kept file's reader that says once (per file and state) when the file has to go through the thread pool. */
function createKeptReader(file: KernelFile, path: string, log: Logger): () => Promise<string> {
  let said: string | undefined;
  return async () => {
    const text = await file.read();
    const fs = file.filesystem() ?? '';
    // Checked here rather than through log.transition each second: the filesystem changes only on a re-open.
    if (fs !== said) {
      said = fs;
      // Hex: not a filesystem known never to block (lxcfs' FUSE /proc/stat in an LXC container, NFS).
      if (fs.startsWith('0x')) log.info(`${path} is on a filesystem that could block a read (statfs type ${fs}): read through the thread pool, not synchronously`);
      else log.debug(`${path} is on ${fs}: read synchronously through a kept descriptor`);
    }
    return text;
  };
}

/** Reads a kept file; undefined when it does not exist or the kernel refuses it (PSI disabled with psi=0). */
async function readOptional(read: () => Promise<string>): Promise<{ text?: string; error?: string }> {
  try {
    return { text: await read() };
  } catch (error) {
    return { error: describeError(error) };
  }
}

/** lsblk's kind column, as systeminformation derives it from lsblk's TYPE and ROTA, from sysfs alone. */
function readDeviceKind(name: string, base: string): string {
  // Partitions, loop, device-mapper and md devices are not physical disks: no kind, as lsblk → systeminformation says.
  if (readKernelTextOptional(join(base, 'partition')) !== undefined || /^(loop|dm-|md)/.test(name)) return '';
  if (/^sr\d/.test(name)) return 'CD/DVD';
  return readKernelTextOptional(join(base, 'queue', 'rotational')) === '0' ? 'SSD' : 'HDD';
}

/**
 * Size and kind of every block device, by kernel name, read from `<sysRoot>/class/block/<dev>/`
 * (`size` in 512-byte sectors, `queue/rotational`, `partition`): what lsblk itself reads. No child
 * process (so nothing can hang or pile up at each refresh), and `--sys-root` applies. The values are
 * checked against systeminformation's `blockDevices()` (lsblk) in test/systeminformation.test.ts. The reads
 * are synchronous (a few µs each; sysfs attributes never block, anything but a regular file is skipped).
 */
export async function readBlockDeviceInfo(sysRoot = '/sys'): Promise<Map<string, DiskInfo>> {
  const dir = join(sysRoot, 'class', 'block');
  const info = new Map<string, DiskInfo>();
  for (const name of readdirSync(dir)) {
    const base = join(dir, name);
    const sectors = Number(readKernelTextOptional(join(base, 'size')));
    if (!Number.isSafeInteger(sectors)) continue;
    info.set(name, { sizeBytes: sectors * 512, physical: readDeviceKind(name, base) });
  }
  return info;
}

/** How long a kernel without PSI is left alone before `pressure/io` is tried again (PSI cannot appear at runtime). */
const PSI_RETRY_MS = 60_000;

/**
 * Reads `<procRoot>/pressure/io`: the values, or `absent` when it cannot be read (no PSI), or undefined when it
 * cannot be parsed; one log line per state.
 */
async function readPsiOptional(read: () => Promise<string>, path: string, log: Logger): Promise<Psi | 'absent' | undefined> {
  const { text, error } = await readOptional(read);
  if (text === undefined) {
    log.transition('psi', 'absent', 'info', `no PSI: ${path} cannot be read (kernel < 4.20, CONFIG_PSI off or booted with psi=0); the PSI rows are left out (tried again once a minute)`, { error });
    return 'absent';
  }
  try {
    const psi = parsePsi(text);
    log.transition('psi', 'ok', 'debug', 'PSI io available');
    return psi;
  } catch (parseError) {
    log.transition('psi', 'bad', 'warn', `cannot parse ${path}; the PSI rows are left out`, { error: describeError(parseError) });
    return undefined;
  }
}

/** Reads `<procRoot>/diskstats`; undefined (one log line per state) when it is missing or cannot be parsed. */
async function readDiskstatsOptional(read: () => Promise<string>, path: string, log: Logger, include: (name: string) => boolean): Promise<DiskStat[] | undefined> {
  const { text, error } = await readOptional(read);
  if (text === undefined) {
    log.transition('diskstats', 'absent', 'warn', `cannot read ${path}; the block device table is left out`, { error });
    return undefined;
  }
  try {
    const disks = parseDiskstats(text, include);
    log.transition('diskstats', 'ok', 'debug', 'diskstats available');
    return disks;
  } catch (parseError) {
    log.transition('diskstats', 'bad', 'warn', `cannot parse ${path}; the block device table is left out`, { error: describeError(parseError) });
    return undefined;
  }
}

/** Whether a block device is a partition, from sysfs (cached until the device list changes: a device does not change kind). */
function createPartitionCheck(sysRoot: string) {
  const cache = new Map<string, boolean>();
  return {
    isPartition(name: string): boolean {
      let partition = cache.get(name);
      if (partition === undefined) {
        // sysfs marks partitions with a `partition` file; names alone cannot tell (nbd10 vs sda10).
        partition = existsSync(join(sysRoot, 'class', 'block', name, 'partition'));
        cache.set(name, partition);
      }
      return partition;
    },
    /** A name may come back as another device (a disk detached, a partition made under its name). */
    forget: () => cache.clear(),
  };
}

/** True when two reads of /proc/diskstats list the same devices in the same order (no allocation). */
function sameDevices(a: readonly DiskStat[] | undefined, b: readonly DiskStat[]): boolean {
  if (!a || a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i]!.name !== b[i]!.name) return false;
  return true;
}

/**
 * Device size/kind, refreshed in the background (never awaited by a read) every `refreshMs`, and at the
 * next read after `invalidate()` (the device list changed). A refresh asked for while one runs is kept for
 * after it, so a device added meanwhile is not missed.
 */
function createDiskInfoCache(read: (() => Promise<Map<string, DiskInfo>>) | undefined, options: { sysRoot: string; log: Logger; refreshMs: number; clock: () => number }) {
  const { sysRoot, log, refreshMs, clock } = options;
  let info = new Map<string, DiskInfo>();
  let atMs = Number.NEGATIVE_INFINITY;
  let inflight: Promise<void> | undefined;
  return {
    invalidate(): void {
      atMs = Number.NEGATIVE_INFINITY;
    },
    refresh(): void {
      if (!read || inflight || clock() - atMs < refreshMs) return;
      atMs = clock();
      // Not awaited: a slow sysfs must never delay a collection; the next one picks the result up.
      inflight = read()
        .then((next) => {
          info = next;
          log.transition('disk-info', next.size > 0 ? 'ok' : 'empty', next.size > 0 ? 'debug' : 'warn', next.size > 0 ? 'device size/kind from sysfs' : `no block devices under ${join(sysRoot, 'class', 'block')} (is --sys-root right?); the size and kind columns stay empty`);
        })
        .catch((error: unknown) => {
          log.transition('disk-info', 'failed', 'warn', 'cannot read block device metadata; the size and kind columns stay empty', { error: describeError(error) });
        })
        .finally(() => {
          inflight = undefined;
        });
    },
    get: (name: string) => info.get(name),
    settle: async () => {
      await inflight;
    },
  };
}

/** Creates a reader that keeps its own baseline; each `read()` returns shares and rates since the previous one. */
export function createIowaitReader(options: IowaitReaderOptions) {
  const { procRoot, sysRoot, log } = options;
  const clock = options.clock ?? (() => performance.now());
  const minSampleMs = options.minSampleMs ?? 200;
  const partitions = createPartitionCheck(sysRoot);
  const diskInfo = createDiskInfoCache(options.readDiskInfo, { sysRoot, log, refreshMs: options.diskInfoRefreshMs ?? 300_000, clock });
  const statPath = join(procRoot, 'stat');
  const diskstatsPath = join(procRoot, 'diskstats');
  const psiPath = join(procRoot, 'pressure', 'io');
  // Kept open between collections and re-read from offset 0: no open/close per second.
  const files = { stat: openKernelFile(statPath), diskstats: openKernelFile(diskstatsPath), psi: openKernelFile(psiPath) };
  const readStat = createKeptReader(files.stat, statPath, log);
  const readDiskstats = createKeptReader(files.diskstats, diskstatsPath, log);
  const readPsi = createKeptReader(files.psi, psiPath, log);
  let baseline: { cpu: CpuTimes; disks: DiskStat[] | undefined; atMs: number } | undefined;
  const last: { cpu?: CpuShares; disks?: DiskRates[] } = {};
  let clampedBefore = false;
  let psiRetryAtMs = Number.NEGATIVE_INFINITY;

  // Devices left out of the table are left out of the parse already.
  const isShown = (name: string): boolean => !options.diskExclude?.test(name) && (options.includePartitions === true || !partitions.isPartition(name));

  const addDiskInfo = (rates: DiskRates[]): DiskRow[] => {
    const rows: DiskRow[] = [];
    for (const rate of rates) {
      const info = diskInfo.get(rate.name);
      rows.push(info ? { ...rate, info } : rate);
    }
    return rows;
  };

  /** Moves the baseline forward and keeps the shares and rates since the previous one; true when the cpu share is new. */
  const advance = (cpu: CpuTimes, disks: DiskStat[] | undefined, atMs: number): boolean => {
    if (!baseline) {
      baseline = { cpu, disks, atMs };
      return false;
    }
    if (atMs - baseline.atMs < minSampleMs) return false;
    const shares = computeCpuShares(baseline.cpu, cpu);
    if (shares) {
      if (shares.clamped.length > 0 || clampedBefore) {
        const fields = shares.clamped.join(',');
        log.transition('clamp', fields, 'debug', fields === '' ? 'cpu counters move forward again' : 'a cpu counter went backwards (known for iowait on NO_HZ kernels); counted as 0', { fields });
      }
      clampedBefore = shares.clamped.length > 0;
      last.cpu = shares;
    }
    const diskRates = baseline.disks && disks ? computeDiskRates(baseline.disks, disks, atMs - baseline.atMs) : undefined;
    if (diskRates) last.disks = diskRates;
    else delete last.disks;
    // No tick elapsed: keep the cpu baseline so the next share spans a real interval.
    baseline = { cpu: shares ? cpu : baseline.cpu, disks, atMs };
    return shares !== undefined;
  };

  return {
    /** Reads the host once; throws (with the path and a hint) only when /proc/stat itself cannot be read. */
    async read(): Promise<HostSample> {
      let statText: string;
      try {
        statText = await readStat();
      } catch (error) {
        throw new ScopePluginError('COLLECT_FAILED', `cannot read ${statPath} (is --proc-root right? in a container, mount the host's /proc)`, { cause: error });
      }
      const disks = await readDiskstatsOptional(readDiskstats, diskstatsPath, log, isShown);
      let psi: Psi | undefined;
      // Without PSI (RHEL 8 boots with psi=0) a failed lookup every second would be a thread-pool hop each.
      if (clock() >= psiRetryAtMs) {
        const read = await readPsiOptional(readPsi, psiPath, log);
        if (read === 'absent') psiRetryAtMs = clock() + PSI_RETRY_MS;
        else psi = read;
      }
      if (disks && !sameDevices(baseline?.disks, disks)) {
        // A device came or went: its size/kind now, not at the next periodic refresh.
        partitions.forget();
        diskInfo.invalidate();
      }
      diskInfo.refresh();
      const fresh = advance(parseProcStatTotal(statText), disks, clock());
      const sample: HostSample = { fresh };
      if (last.cpu) sample.cpu = last.cpu;
      if (psi) sample.psi = psi;
      if (last.disks && disks) sample.disks = addDiskInfo(last.disks);
      return sample;
    },
    /** Closes the files kept open between reads (a later read opens them again). */
    close(): void {
      for (const file of Object.values(files)) file.close();
    },
    /** Waits for a pending device metadata refresh. */
    async settle(): Promise<void> {
      await diskInfo.settle();
    },
  };
}

/** A reader made by {@link createIowaitReader}. */
export type IowaitReader = ReturnType<typeof createIowaitReader>;
