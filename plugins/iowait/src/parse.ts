/**
 * Pure parsers and arithmetic for /proc/stat, /proc/pressure/io and /proc/diskstats.
 * Text in, typed records out; nothing here touches the host.
 */
import { LineFields } from './fields.js';

/** Names of the cpu time fields of /proc/stat, in file order (proc(5)). */
export const CPU_TIME_FIELDS = ['user', 'nice', 'system', 'idle', 'iowait', 'irq', 'softirq', 'steal', 'guest', 'guestNice'] as const;

/** One cpu time field name. */
export type CpuTimeField = (typeof CPU_TIME_FIELDS)[number];

/** Cumulative cpu times in USER_HZ ticks; fields an old kernel does not print are 0. */
export type CpuTimes = Record<CpuTimeField, number>;

/** The cpu lines of /proc/stat. */
export interface ProcStat {
  /** The aggregate `cpu` line (all CPUs). */
  total: CpuTimes;
  /** Per-CPU lines by name (`cpu0`, `cpu1`, ...). */
  cpus: Record<string, CpuTimes>;
}

/** Fields that make up the time base: guest and guest_nice are left out, they are already inside user and nice. */
const TOTAL_FIELDS: readonly CpuTimeField[] = ['user', 'nice', 'system', 'idle', 'iowait', 'irq', 'softirq', 'steal'];

function parseCounter(text: string, what: string): number {
  if (!/^\d+$/.test(text)) throw new Error(`${what}: expected a non-negative integer, got ${JSON.stringify(text)}`);
  return Number(text);
}

/** Parses /proc/stat; throws an Error naming the bad line when the aggregate `cpu` line is missing or malformed. */
export function parseProcStat(text: string): ProcStat {
  let total: CpuTimes | undefined;
  const cpus: Record<string, CpuTimes> = {};
  for (const line of text.split('\n')) {
    const match = /^(cpu\d*)\s+(.*)$/.exec(line.trim());
    if (!match) continue;
    const [, name, rest] = match as unknown as [string, string, string];
    const times = parseCpuTimes(name, rest, line);
    if (name === 'cpu') total = times;
    else cpus[name] = times;
  }
  if (!total) throw new Error('/proc/stat has no aggregate "cpu" line');
  return { total, cpus };
}

/** The fields after a `cpuN` name; `line` is for the error message. */
function parseCpuTimes(name: string, rest: string, line: string): CpuTimes {
  const values = rest.split(/\s+/);
  // user, nice, system, idle exist on every kernel; iowait since 2.5.41, steal 2.6.11, guest 2.6.24, guest_nice 2.6.33.
  if (values.length < 4) throw new Error(`/proc/stat line ${JSON.stringify(line)}: expected at least 4 cpu time fields, got ${values.length}`);
  const times = {} as CpuTimes;
  CPU_TIME_FIELDS.forEach((field, i) => {
    const value = values[i];
    times[field] = value === undefined ? 0 : parseCounter(value, `/proc/stat ${name} ${field}`);
  });
  return times;
}

// Reused by the per-second parsers below (they run to completion, one at a time).
const fields = new LineFields();

/**
 * Only the aggregate `cpu` line of /proc/stat, equal to `parseProcStat(text).total`: what the plugin uses,
 * without splitting the per-CPU, interrupt and softirq lines it would throw away (a large host's file is
 * tens of KiB), and without a string per field. Throws like {@link parseProcStat} when the line is missing
 * or malformed.
 */
export function parseProcStatTotal(text: string): CpuTimes {
  for (let from = 0; from <= text.length; ) {
    let to = text.indexOf('\n', from);
    if (to === -1) to = text.length;
    if (fields.scan(text, from, to) > 0 && fields.is(0, 'cpu')) {
      const count = fields.count - 1;
      // user, nice, system, idle exist on every kernel; iowait since 2.5.41, steal 2.6.11, guest 2.6.24, guest_nice 2.6.33.
      if (count < 4) throw new Error(`/proc/stat line ${JSON.stringify(text.slice(from, to).trim())}: expected at least 4 cpu time fields, got ${count}`);
      const value = (i: number) => (i < count ? fields.counter(i + 1, '/proc/stat cpu', CPU_TIME_FIELDS[i]!) : 0);
      return { user: value(0), nice: value(1), system: value(2), idle: value(3), iowait: value(4), irq: value(5), softirq: value(6), steal: value(7), guest: value(8), guestNice: value(9) };
    }
    from = to + 1;
  }
  throw new Error('/proc/stat has no aggregate "cpu" line');
}

/** Shares of cpu time between two /proc/stat reads, in percent of the time base (all fields but guest and guest_nice). */
export interface CpuShares {
  /** Percent per field; guest and guest_nice are shares of the same base (they are part of user/nice). */
  percent: CpuTimes;
  /** Ticks elapsed in the time base, summed over CPUs. */
  totalTicks: number;
  /** Fields whose counter went backwards; their delta counted as 0. */
  clamped: CpuTimeField[];
}

/**
 * Cpu shares between two reads of the same counters. A counter that went backwards (iowait does, on
 * NO_HZ kernels, when an idle CPU's sleep is reattributed) counts as 0, never negative. Returns
 * undefined when no tick elapsed: there is nothing to divide, and never a since-boot average.
 */
export function computeCpuShares(prev: CpuTimes, next: CpuTimes): CpuShares | undefined {
  const clamped: CpuTimeField[] = [];
  const delta = {} as CpuTimes;
  for (const field of CPU_TIME_FIELDS) {
    const d = next[field] - prev[field];
    if (d < 0) clamped.push(field);
    delta[field] = Math.max(0, d);
  }
  const totalTicks = TOTAL_FIELDS.reduce((sum, field) => sum + delta[field], 0);
  if (totalTicks <= 0) return undefined;
  const percent = {} as CpuTimes;
  for (const field of CPU_TIME_FIELDS) percent[field] = Math.min(100, (delta[field] / totalTicks) * 100);
  return { percent, totalTicks, clamped };
}

/** One PSI line: averages in percent, total stall time in microseconds. */
export interface PsiLine {
  avg10: number;
  avg60: number;
  avg300: number;
  totalUs: number;
}

/** /proc/pressure/io: `some` always, `full` on kernels that print it (all since 5.2 for io). */
export interface Psi {
  some: PsiLine;
  full?: PsiLine;
}

const PSI_KEYS = ['avg10=', 'avg60=', 'avg300=', 'total='] as const;

/** One PSI line's values from the fields just scanned (`key=value` after the kind); `text[from, to)` is the line, for errors. */
function parsePsiLine(text: string, from: number, to: number): PsiLine {
  const values: number[] = [];
  for (const [k, key] of PSI_KEYS.entries()) {
    // The last `key=` wins, as a map of the pairs would have it.
    let found: string | undefined;
    for (let i = fields.count - 1; i >= 1 && found === undefined; i--) {
      if (fields.startsWith(i, key)) found = fields.rest(i, key.length);
    }
    const value = found === undefined ? Number.NaN : Number(found);
    if (found === undefined || found === '' || !Number.isFinite(value) || value < 0) {
      const line = text.slice(from, to).trim();
      throw new Error(`PSI line ${JSON.stringify(line)}: ${key.slice(0, -1)} is ${found === undefined ? 'missing' : `not a number (${JSON.stringify(found)})`}`);
    }
    values[k] = value;
  }
  return { avg10: values[0]!, avg60: values[1]!, avg300: values[2]!, totalUs: values[3]! };
}

/** Parses a /proc/pressure/* file; throws an Error naming the bad line. */
export function parsePsi(text: string): Psi {
  let some: PsiLine | undefined;
  let full: PsiLine | undefined;
  for (let from = 0; from <= text.length; ) {
    let to = text.indexOf('\n', from);
    if (to === -1) to = text.length;
    const lineFrom = from;
    from = to + 1;
    if (fields.scan(text, lineFrom, to) === 0) continue;
    if (fields.is(0, 'some')) some = parsePsiLine(text, lineFrom, to);
    else if (fields.is(0, 'full')) full = parsePsiLine(text, lineFrom, to);
    else throw new Error(`PSI line ${JSON.stringify(text.slice(lineFrom, to).trim())}: expected "some" or "full" first`);
  }
  if (!some) throw new Error('PSI file has no "some" line');
  return full ? { some, full } : { some };
}

/** Cumulative counters of one /proc/diskstats line (Documentation/admin-guide/iostats.rst). */
export interface DiskStat {
  major: number;
  minor: number;
  name: string;
  readsCompleted: number;
  readsMerged: number;
  sectorsRead: number;
  readMs: number;
  writesCompleted: number;
  writesMerged: number;
  sectorsWritten: number;
  writeMs: number;
  inFlight: number;
  ioMs: number;
  weightedIoMs: number;
  /** Since 4.18; 0 before. */
  discardsCompleted: number;
  discardMs: number;
}

const DISKSTAT_FIELDS = [
  'readsCompleted',
  'readsMerged',
  'sectorsRead',
  'readMs',
  'writesCompleted',
  'writesMerged',
  'sectorsWritten',
  'writeMs',
  'inFlight',
  'ioMs',
  'weightedIoMs',
  'discardsCompleted',
  'discardsMerged',
  'sectorsDiscarded',
  'discardMs',
] as const;

/**
 * Parses /proc/diskstats (14, 18 or 20 fields a line); throws an Error naming the bad line. With `include`,
 * lines of other devices are skipped before their counters are read (a host with dozens of loop devices
 * pays only for the disks it shows). Fields are read in place (see fields.ts): one string per device, its name.
 */
export function parseDiskstats(text: string, include?: (name: string) => boolean): DiskStat[] {
  const out: DiskStat[] = [];
  for (let from = 0; from <= text.length; ) {
    let to = text.indexOf('\n', from);
    if (to === -1) to = text.length;
    const count = fields.scan(text, from, to);
    const lineFrom = from;
    from = to + 1;
    if (count === 0) continue;
    const name = count >= 3 ? fields.text(2) : undefined;
    if (include && name !== undefined && !include(name)) continue;
    if (count < 14) throw new Error(`/proc/diskstats line ${JSON.stringify(text.slice(lineFrom, to).trim())}: expected at least 14 fields, got ${count}`);
    const context = `/proc/diskstats ${name}`;
    // Every counter is checked, in file order, before major and minor (as the field-by-field parse did).
    const values = DISKSTAT_FIELDS.map((field, i) => (3 + i < count ? fields.counter(3 + i, context, field) : 0));
    out.push({
      major: fields.counter(0, context, 'major'),
      minor: fields.counter(1, context, 'minor'),
      name: name!,
      readsCompleted: values[0]!,
      readsMerged: values[1]!,
      sectorsRead: values[2]!,
      readMs: values[3]!,
      writesCompleted: values[4]!,
      writesMerged: values[5]!,
      sectorsWritten: values[6]!,
      writeMs: values[7]!,
      inFlight: values[8]!,
      ioMs: values[9]!,
      weightedIoMs: values[10]!,
      discardsCompleted: values[11]!,
      discardMs: values[14]!,
    });
  }
  return out;
}

/** Per-device rates between two /proc/diskstats reads. */
export interface DiskRates {
  name: string;
  readsPerSec: number;
  writesPerSec: number;
  /** Share of wall time the device had I/O in flight (iostat's %util), 0–100. */
  utilPercent: number;
  /** Mean time a completed read, write or discard took, queueing included (iostat's await); 0 without I/O. */
  avgWaitMs: number;
}

/**
 * Rates of every device present in both reads, in `next`'s order. Counters that went backwards
 * (a device re-attached under the same name, 32-bit wrap on old kernels) count as 0.
 */
export function computeDiskRates(prev: readonly DiskStat[], next: readonly DiskStat[], elapsedMs: number): DiskRates[] {
  if (!Number.isFinite(elapsedMs) || elapsedMs <= 0) throw new RangeError(`elapsedMs must be a positive number, got ${elapsedMs}`);
  const before = new Map(prev.map((d) => [d.name, d]));
  const out: DiskRates[] = [];
  for (const disk of next) {
    const old = before.get(disk.name);
    if (!old) continue;
    const d = (field: keyof Omit<DiskStat, 'name'>) => Math.max(0, disk[field] - old[field]);
    const ios = d('readsCompleted') + d('writesCompleted') + d('discardsCompleted');
    const waitMs = d('readMs') + d('writeMs') + d('discardMs');
    out.push({
      name: disk.name,
      readsPerSec: (d('readsCompleted') * 1000) / elapsedMs,
      writesPerSec: (d('writesCompleted') * 1000) / elapsedMs,
      utilPercent: Math.min(100, (d('ioMs') / elapsedMs) * 100),
      avgWaitMs: ios > 0 ? waitMs / ios : 0,
    });
  }
  return out;
}

/** Default pattern of devices left out of the table: loop, ram and zram devices hold no disk I/O. */
export const DEFAULT_DISK_EXCLUDE = '^(loop|ram|zram)[0-9]+$';

/**
 * A multicolumn row id for a device: digit runs zero-padded to 6 places so rows sort naturally
 * (`nvme2n1` before `nvme10n1`); `___` (Scope's cell separator) never appears in the result.
 */
export function diskRowId(name: string): string {
  return name.replace(/\d+/g, (digits) => digits.padStart(6, '0')).replace(/_{3,}/g, (run) => '_-'.repeat(Math.ceil(run.length / 2)).slice(0, run.length));
}

/** Rounds for display in a latest string: 2 decimals, no trailing noise. */
export function formatNumber(value: number, decimals = 2): string {
  return String(Number(value.toFixed(decimals)));
}
