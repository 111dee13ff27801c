/**
 * The `/proc` namespace source with a per-process cache: cost follows change, not process count.
 *
 * Each read lists `<procRoot>` (one getdents pass; skipped when the host's fork count and task count are both
 * unchanged, which means no process came or went) and reads namespace links only for processes not seen before.
 * Every known process is checked again at least once per `verifyPeriodMs` (spread evenly over the reads), and a
 * new one once more on the next read (a fork that unshares right after we saw it), but a check is one small read
 * of `/proc/<pid>/schedstat`: its time on a CPU and its count of times scheduled in. When both are unchanged the
 * process has not run since its links were read, so it cannot have called setns, unshare, exec or setuid: its
 * namespaces, owner and command are what we have. Only a process that ran is read again (start time, links, and
 * owner and command while it leads a namespace). A process is keyed by pid + start time (field 22 of
 * `/proc/<pid>/stat`), so a reused pid is a new process (its schedstat differs, so it is read again).
 * Guarantees: a namespace that appears or disappears with a process (the usual case: a container or `unshare`
 * starts or stops) is in the very next read; a namespace change of a running process (`setns`, `unshare` without
 * fork, a pid reused between two reads) is in the report within `verifyPeriodMs` plus one read interval.
 */
import { closeSync, openSync, readFileSync, readSync, readdirSync } from 'node:fs';
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import { NamespaceSourceError, readCommand, readOwner, readProcessNamespaces, readUserNames, type NamespaceScan, type ProcSourceOptions } from './collect.js';
import { NAMESPACE_TYPES, parseStartTime, sortNamespaces, type NamespaceRecord, type NamespaceType } from './parse.js';

/** How often, at most, every cached process is checked again. @default 25000 (with a 2 s interval: within 27 s) */
export const DEFAULT_VERIFY_PERIOD_MS = 25_000;

/** Options of {@link createCachedProcReader}. */
export interface CachedProcReaderOptions extends ProcSourceOptions {
  /** Every cached process is checked again at least this often. @default DEFAULT_VERIFY_PERIOD_MS */
  verifyPeriodMs?: number;
  /** Clock for the verification schedule. @default Date.now */
  now?: () => number;
}

/** Statistics of the last read, for the debug log and the tests. */
export interface CachedReadStats {
  /** Processes whose links were read in this read (new, or found to have run since they were last read). */
  reads: number;
  /** Known processes checked through their schedstat (due for verification, or seen first in the previous read). */
  checks: number;
  /** Whether `<procRoot>` was listed (false: no task was created or reaped since the previous read). */
  listed: boolean;
  /** Whether the namespace set or a shown detail changed (false: the previous scan was served again). */
  changed: boolean;
}

/** A reader of the host's namespaces that remembers what it read. */
export interface CachedProcReader {
  read(signal?: AbortSignal): Promise<NamespaceScan>;
  /** What the last read did. */
  lastRead(): CachedReadStats;
  /**
   * The namespaces of `pid` as of the last read: null when it could not be read (gone, or not ours), undefined when
   * the reader does not know it (new since the last listing) or reads fewer than every type. Same freshness as the
   * table.
   */
  namespacesOf(pid: number): Partial<Record<NamespaceType, string>> | null | undefined;
}

interface ProcessEntry {
  /** `/proc/<pid>/schedstat` as read just before the links (undefined: unreadable, or the kernel keeps no sched info). */
  sched: string | undefined;
  startTime: string | undefined;
  namespaces: Partial<Record<NamespaceType, string>> | undefined;
  /** Owner and command, read only while the process leads a namespace (lowest pid). */
  details: { user: string; command: string } | undefined;
  /** When it was last read or checked. */
  verifiedAt: number;
  /** Seen for the first time in the previous read: checked once more. */
  young: boolean;
}

/** One buffer for every schedstat read: the line is three numbers, well under 100 bytes. */
const schedBuffer = Buffer.allocUnsafe(128);

/**
 * `/proc/<pid>/schedstat`: nanoseconds on a CPU, nanoseconds waiting for one, and times scheduled in (the last one
 * counts at the switch, before the process runs a single instruction). Read with open/read/close on one shared
 * buffer: a third cheaper than readFileSync (no fstat, no string of the whole file). Undefined when the process is
 * gone or the kernel keeps no sched info (it then prints `0 0 0`, and the process is read in full every time).
 */
function readSchedstat(procRoot: string, pid: number): string | undefined {
  let fd: number;
  try {
    fd = openSync(`${procRoot}/${pid}/schedstat`, 'r');
  } catch {
    // Gone, or no schedstat in this kernel: the full read that follows decides.
    return undefined;
  }
  try {
    const length = readSync(fd, schedBuffer, 0, schedBuffer.length, 0);
    // A process always has run (it was forked): zero time on a CPU means the numbers are not kept.
    if (length === 0 || (schedBuffer[0] === 0x30 && schedBuffer[1] === 0x20)) return undefined;
    return schedBuffer.toString('latin1', 0, length);
  } catch {
    // ESRCH: it exited between open and read.
    return undefined;
  } finally {
    closeSync(fd);
  }
}

function readStartTime(procRoot: string, pid: number): string | undefined {
  try {
    return parseStartTime(readFileSync(`${procRoot}/${pid}/stat`, 'utf8'));
  } catch {
    // Gone or unreadable: the namespace read that follows decides whether the process is skipped.
    return undefined;
  }
}

/**
 * A value that changes whenever a task was created or reaped anywhere on the host: the fork count since boot
 * (`processes` in `<procRoot>/stat`, all pid namespaces) and the number of tasks (`<procRoot>/loadavg`, 4th
 * field after the slash). Equal twice in a row means the pid list cannot have changed, so the directory listing
 * is skipped. Undefined (list every time) when either file is unreadable, e.g. a copied proc tree in tests.
 */
function readTaskSignature(procRoot: string): string | undefined {
  try {
    const forks = /^processes (\d+)$/m.exec(readFileSync(`${procRoot}/stat`, 'utf8'))?.[1];
    const tasks = readFileSync(`${procRoot}/loadavg`, 'utf8').split(' ')[3]?.split('/')[1];
    return forks !== undefined && tasks !== undefined ? `${forks}/${tasks}` : undefined;
  } catch {
    // No stat/loadavg under this root: fall back to listing it every time.
    return undefined;
  }
}

/** The pids under `procRoot`, ascending; synchronous (one getdents pass, about 0.3 ms for 800 entries). */
function listPids(procRoot: string): number[] {
  let names: string[];
  try {
    names = readdirSync(procRoot);
  } catch (error) {
    throw new NamespaceSourceError('PROC_UNREADABLE', `cannot list ${procRoot}: ${(error as Error).message}`, { cause: error });
  }
  // Parsed by hand, and sorted only if need be (procfs lists pids in ascending order): this runs on every fork or
  // exit on the host, and a regex, Number() and a sort of every name made most of the collection's garbage.
  const pids: number[] = [];
  let sorted = true;
  for (const name of names) {
    let pid = 0;
    for (let i = 0; i < name.length; i++) {
      const digit = name.charCodeAt(i) - 48;
      if (digit < 0 || digit > 9) {
        pid = -1;
        break;
      }
      pid = pid * 10 + digit;
    }
    if (pid <= 0 || name.length > 10) continue;
    if (pids.length > 0 && pid < pids[pids.length - 1]!) sorted = false;
    pids.push(pid);
  }
  return sorted ? pids : pids.sort((a, b) => a - b);
}

function sameNamespaces(a: ProcessEntry['namespaces'], b: ProcessEntry['namespaces'], types: readonly NamespaceType[]): boolean {
  if (a === undefined || b === undefined) return a === b;
  for (const type of types) if (a[type] !== b[type]) return false;
  return true;
}

/** One namespace while the cache holds it: its process count and lowest pid, kept up to date process by process. */
interface NamespaceState {
  type: NamespaceType;
  inode: string;
  nprocs: number;
  /** Lowest pid in it; NaN while it has to be found again (that pid left). */
  pid: number;
  /** The record last handed out, while none of its fields changed (then the next scan hands out the same object). */
  record: NamespaceRecord | undefined;
}

/** Creates the cached `/proc` reader (see the file comment for what it guarantees). */
export function createCachedProcReader(procRoot: string, options: CachedProcReaderOptions = {}): CachedProcReader {
  const types = options.types ?? NAMESPACE_TYPES;
  const allTypes = NAMESPACE_TYPES.every((type) => types.includes(type));
  const batchSize = options.batchSize ?? 64;
  const verifyPeriodMs = options.verifyPeriodMs ?? DEFAULT_VERIFY_PERIOD_MS;
  if (!Number.isFinite(verifyPeriodMs) || verifyPeriodMs < 0) throw new TypeError(`verifyPeriodMs must be a number >= 0, got ${JSON.stringify(verifyPeriodMs)}`);
  const now = options.now ?? Date.now;
  // Paths are built by concatenation on the hot path: path.join normalizes every time, this once.
  const root = procRoot.length > 1 ? procRoot.replace(/\/+$/, '') : procRoot;
  const cache = new Map<number, ProcessEntry>();
  // The tally is kept as processes come, go and change, so a read costs what changed, not what exists.
  // Keyed by inode alone, as lsns does (nsfs inodes are unique across types).
  const spaces = new Map<string, NamespaceState>();
  /** The namespaces in row order; undefined once one came or went. */
  let ordered: NamespaceState[] | undefined;
  /** Namespaces whose lowest pid left them. */
  const orphaned = new Set<NamespaceState>();
  let processes = 0;
  let skipped = 0;
  /** Known processes found in other namespaces when read again (NamespaceScan.inPlaceChanges). */
  let inPlaceChanges = 0;
  let changed = true;
  let users: Map<number, string> | undefined;
  let last: NamespaceScan | undefined;
  let stats: CachedReadStats = { reads: 0, checks: 0, listed: true, changed: true };
  let signature: string | undefined;
  let pids: number[] = [];

  const readDetails = (pid: number) => ({ user: readOwner(root, pid, users ?? new Map()) ?? '', command: readCommand(root, pid) });

  const readEntry = (pid: number, at: number, previous: ProcessEntry | undefined): ProcessEntry => {
    // Schedstat first: if it is the same at the next check, nothing ran after the links below were read.
    const sched = readSchedstat(root, pid);
    const startTime = readStartTime(root, pid);
    const namespaces = readProcessNamespaces(root, pid, types);
    // Owner and command are read again with a process that had them: exec changes the command, setuid the owner.
    const details = previous?.details && previous.startTime === startTime ? readDetails(pid) : undefined;
    return { sched, startTime, namespaces, details, verifiedAt: at, young: previous === undefined || previous.startTime !== startTime };
  };

  /** Counts a process in its namespaces. */
  const attach = (pid: number, entry: ProcessEntry): void => {
    changed = true;
    const { namespaces } = entry;
    if (!namespaces) {
      skipped++;
      return;
    }
    processes++;
    for (const type of types) {
      const inode = namespaces[type];
      if (inode === undefined) continue;
      const space = spaces.get(inode);
      if (!space) {
        spaces.set(inode, { type, inode, nprocs: 1, pid, record: undefined });
        ordered = undefined;
        continue;
      }
      space.nprocs++;
      space.record = undefined;
      if (pid < space.pid) space.pid = pid;
    }
  };

  /** Takes a process out of its namespaces' counts (it left, or is about to be counted again as read now). */
  const detach = (pid: number, entry: ProcessEntry): void => {
    changed = true;
    const { namespaces } = entry;
    if (!namespaces) {
      skipped--;
      return;
    }
    processes--;
    for (const type of types) {
      const inode = namespaces[type];
      const space = inode === undefined ? undefined : spaces.get(inode);
      if (!space) continue;
      space.record = undefined;
      if (--space.nprocs === 0) {
        spaces.delete(inode!);
        orphaned.delete(space);
        ordered = undefined;
      } else if (space.pid === pid) {
        space.pid = Number.NaN;
        orphaned.add(space);
      }
    }
  };

  /** Finds the lowest pid of the namespaces that lost theirs: one pass in pid order, stopped when all are found. */
  const findLowestPids = (): void => {
    let left = orphaned.size;
    for (let index = 0; index < pids.length && left > 0; index++) {
      const pid = pids[index]!;
      const namespaces = cache.get(pid)?.namespaces;
      if (!namespaces) continue;
      for (const type of types) {
        const inode = namespaces[type];
        const space = inode === undefined ? undefined : spaces.get(inode);
        if (space && Number.isNaN(space.pid)) {
          space.pid = pid;
          left--;
        }
      }
    }
    orphaned.clear();
  };

  return {
    lastRead: () => stats,
    namespacesOf: (pid) => {
      const entry = allTypes ? cache.get(pid) : undefined;
      return entry ? (entry.namespaces ?? null) : undefined;
    },
    async read(signal) {
      const at = now();
      // The passwd file is read once: user names of uids rarely change, and the uid itself is re-read with the owner.
      users ??= await readUserNames(options.passwdPath);
      // No task created or reaped since the last read: the pid list is the same, only the checks are left.
      const nextSignature = readTaskSignature(root);
      const listed = nextSignature === undefined || nextSignature !== signature;
      signature = nextSignature;
      if (listed) {
        const next = listPids(root);
        // Both lists ascending: one merge walk finds the pids that left (every cached pid is in the old list).
        for (let i = 0, j = 0; i < pids.length; i++) {
          const pid = pids[i]!;
          while (j < next.length && next[j]! < pid) j++;
          if (j < next.length && next[j] === pid) continue;
          const entry = cache.get(pid);
          if (!entry) continue;
          detach(pid, entry);
          cache.delete(pid);
        }
        pids = next;
      }
      let reads = 0;
      let checks = 0;
      // Work units: a read is about 8 syscalls, a check 3; the event loop gets a turn every batch of reads' worth.
      let work = 0;
      let nextYield = batchSize * 8;
      const first = cache.size === 0;
      for (let index = 0; index < pids.length; index++) {
        const pid = pids[index]!;
        const entry = cache.get(pid);
        if (entry && !entry.young && at - entry.verifiedAt < verifyPeriodMs) continue;
        // Let /report requests through between batches.
        if (work >= nextYield) {
          nextYield += batchSize * 8;
          await yieldToEventLoop();
          signal?.throwIfAborted();
        }
        if (entry) {
          checks++;
          work += 2;
          const sched = readSchedstat(root, pid);
          if (sched !== undefined && sched === entry.sched) {
            // Not scheduled in since its links were read: it cannot have changed its namespaces, owner or command.
            entry.verifiedAt = at;
            entry.young = false;
            continue;
          }
        }
        reads++;
        work += 8;
        const next = readEntry(pid, at, entry);
        if (first) {
          // Spread the first full read's verification times over the period, so later reads share the work evenly.
          next.verifiedAt = at - (verifyPeriodMs * index) / pids.length;
          next.young = false;
        }
        cache.set(pid, next);
        if (!entry || entry.startTime !== next.startTime || !sameNamespaces(entry.namespaces, next.namespaces, types)) {
          if (entry) {
            // Not a process coming or going with the pid list: one that moved in place (or a pid reused unseen).
            inPlaceChanges++;
            detach(pid, entry);
          }
          attach(pid, next);
        } else if (entry.details && next.details && (entry.details.user !== next.details.user || entry.details.command !== next.details.command)) {
          // Same namespaces, new owner or command: the rows it leads show them.
          changed = true;
          for (const inode of Object.values(next.namespaces ?? {})) {
            const space = spaces.get(inode);
            if (space?.pid === pid) space.record = undefined;
          }
        }
      }
      signal?.throwIfAborted();
      stats = { reads, checks, listed, changed: changed || last === undefined };
      if (!changed && last) return last;
      changed = false;
      last = scan();
      return last;
    },
  };

  /** The scan from the tally: records of unchanged namespaces are the same objects as in the previous scan. */
  function scan(): NamespaceScan {
    if (orphaned.size > 0) findLowestPids();
    ordered ??= sortNamespaces([...spaces.values()]);
    const namespaces: NamespaceRecord[] = [];
    for (const space of ordered) {
      if (!space.record) {
        const { type, inode, nprocs, pid } = space;
        const entry = cache.get(pid)!;
        // Owner and command only for the lowest pid of each namespace: many namespaces share one pid.
        entry.details ??= readDetails(pid);
        space.record = { type, inode, nprocs, pid, user: entry.details.user, command: entry.details.command };
      }
      namespaces.push(space.record);
    }
    return { source: 'proc', namespaces, processes, skipped, inPlaceChanges };
  }
}
