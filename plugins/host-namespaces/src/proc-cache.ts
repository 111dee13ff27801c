/**
 * The `/proc` namespace source with a per-process cache: cost follows change, not process count.
 *
 * Each read lists `<procRoot>` (one getdents pass; skipped when the host's fork count and task count are both
 * unchanged, which means no process came or went) and reads namespace links only for
 * - processes not seen before (and once more on the next read, to catch a fork that unshares right after we saw it),
 * - processes whose re-verification is due: every cached process is re-read (start time, links, and the owner and
 *   command when shown) at least once per `verifyPeriodMs`, spread evenly over the reads.
 * A process is keyed by pid + start time (field 22 of `/proc/<pid>/stat`), so a reused pid is a new process.
 * Guarantees: a namespace that appears or disappears with a process (the usual case: a container or `unshare`
 * starts or stops) is in the very next read; a namespace change of a running process (`setns`, `unshare` without
 * fork, a pid reused between two reads) is in the report within `verifyPeriodMs` plus one read interval.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import { NamespaceSourceError, createNamespaceTally, readCommand, readOwner, readProcessNamespaces, readUserNames, type NamespaceScan, type ProcSourceOptions } from './collect.js';
import { NAMESPACE_TYPES, parseStartTime, sortNamespaces, type NamespaceRecord, type NamespaceType } from './parse.js';

/** How often, at most, every cached process is read again. @default 25000 (with a 2 s interval: within 27 s) */
export const DEFAULT_VERIFY_PERIOD_MS = 25_000;

/** Options of {@link createCachedProcReader}. */
export interface CachedProcReaderOptions extends ProcSourceOptions {
  /** Every cached process is re-read at least this often. @default DEFAULT_VERIFY_PERIOD_MS */
  verifyPeriodMs?: number;
  /** Clock for the verification schedule. @default Date.now */
  now?: () => number;
}

/** Statistics of the last read, for the debug log and the tests. */
export interface CachedReadStats {
  /** Processes whose links were read in this read (new, young or due). */
  reads: number;
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
}

interface ProcessEntry {
  startTime: string | undefined;
  namespaces: Partial<Record<NamespaceType, string>> | undefined;
  /** Owner and command, read only while the process leads a namespace (lowest pid). */
  details: { user: string; command: string } | undefined;
  /** When its links were last read. */
  verifiedAt: number;
  /** Seen for the first time in the previous read: read once more. */
  young: boolean;
}

function readStartTime(procRoot: string, pid: number): string | undefined {
  try {
    return parseStartTime(readFileSync(join(procRoot, String(pid), 'stat'), 'utf8'));
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
    const forks = /^processes (\d+)$/m.exec(readFileSync(join(procRoot, 'stat'), 'utf8'))?.[1];
    const tasks = readFileSync(join(procRoot, 'loadavg'), 'utf8').split(' ')[3]?.split('/')[1];
    return forks !== undefined && tasks !== undefined ? `${forks}/${tasks}` : undefined;
  } catch {
    // No stat/loadavg under this root: fall back to listing it every time.
    return undefined;
  }
}

/** The pids under `procRoot`, ascending; synchronous (one getdents pass, well under a millisecond for 1000 pids). */
function listPids(procRoot: string): number[] {
  let names: string[];
  try {
    names = readdirSync(procRoot);
  } catch (error) {
    throw new NamespaceSourceError('PROC_UNREADABLE', `cannot list ${procRoot}: ${(error as Error).message}`, { cause: error });
  }
  const pids: number[] = [];
  for (const name of names) {
    const first = name.charCodeAt(0);
    if (first >= 48 && first <= 57 && /^\d+$/.test(name)) pids.push(Number(name));
  }
  return pids.sort((a, b) => a - b);
}

function sameNamespaces(a: ProcessEntry['namespaces'], b: ProcessEntry['namespaces'], types: readonly NamespaceType[]): boolean {
  if (a === undefined || b === undefined) return a === b;
  return types.every((type) => a[type] === b[type]);
}

/** Creates the cached `/proc` reader (see the file comment for what it guarantees). */
export function createCachedProcReader(procRoot: string, options: CachedProcReaderOptions = {}): CachedProcReader {
  const types = options.types ?? NAMESPACE_TYPES;
  const batchSize = options.batchSize ?? 64;
  const verifyPeriodMs = options.verifyPeriodMs ?? DEFAULT_VERIFY_PERIOD_MS;
  if (!Number.isFinite(verifyPeriodMs) || verifyPeriodMs < 0) throw new TypeError(`verifyPeriodMs must be a number >= 0, got ${JSON.stringify(verifyPeriodMs)}`);
  const now = options.now ?? Date.now;
  const cache = new Map<number, ProcessEntry>();
  let users: Map<number, string> | undefined;
  let last: NamespaceScan | undefined;
  let stats: CachedReadStats = { reads: 0, listed: true, changed: true };
  let signature: string | undefined;
  let pids: number[] = [];

  const readEntry = (pid: number, at: number, previous: ProcessEntry | undefined): ProcessEntry => {
    const startTime = readStartTime(procRoot, pid);
    const namespaces = readProcessNamespaces(procRoot, pid, types);
    // A leader's owner and command are read again with it: exec changes the command, setuid the owner.
    const details = previous?.details && previous.startTime === startTime ? readDetails(pid) : undefined;
    return { startTime, namespaces, details, verifiedAt: at, young: previous === undefined };
  };

  const readDetails = (pid: number) => ({ user: readOwner(procRoot, pid, users ?? new Map()) ?? '', command: readCommand(procRoot, pid) });

  return {
    lastRead: () => stats,
    async read(signal) {
      const at = now();
      // The passwd file is read once: user names of uids rarely change, and the uid itself is re-read with the owner.
      users ??= await readUserNames(options.passwdPath);
      // No task created or reaped since the last read: the pid list is the same, only rotation work is left.
      const nextSignature = readTaskSignature(procRoot);
      const listed = nextSignature === undefined || nextSignature !== signature;
      if (listed) pids = listPids(procRoot);
      signature = nextSignature;
      let changed = last === undefined;
      let reads = 0;
      const present = listed ? new Set(pids) : undefined;
      for (const pid of present ? cache.keys() : []) {
        if (!present!.has(pid)) {
          cache.delete(pid);
          changed = true;
        }
      }
      const first = cache.size === 0;
      for (const [index, pid] of pids.entries()) {
        const entry = cache.get(pid);
        if (entry && !entry.young && at - entry.verifiedAt < verifyPeriodMs) continue;
        // Let /report requests through between batches of reads.
        if (reads > 0 && reads % batchSize === 0) {
          await yieldToEventLoop();
          signal?.throwIfAborted();
        }
        reads++;
        const next = readEntry(pid, at, entry);
        if (first) {
          // Spread the first full read's verification times over the period, so later reads share the work evenly.
          next.verifiedAt = at - (verifyPeriodMs * index) / pids.length;
          next.young = false;
        }
        if (!entry || entry.startTime !== next.startTime || !sameNamespaces(entry.namespaces, next.namespaces, types)) changed = true;
        else if (entry.details && next.details && (entry.details.user !== next.details.user || entry.details.command !== next.details.command)) changed = true;
        cache.set(pid, next);
      }
      signal?.throwIfAborted();
      stats = { reads, listed, changed };
      if (!changed && last) return last;
      last = aggregate(pids);
      return last;
    },
  };

  function aggregate(pids: readonly number[]): NamespaceScan {
    // Pids are ascending, so the first process seen in a namespace is its lowest pid (lsns's PID column).
    const tally = createNamespaceTally(types);
    for (const pid of pids) tally.add(pid, cache.get(pid)?.namespaces);
    const { processes, skipped } = tally;
    const records: NamespaceRecord[] = [];
    for (const { type, inode, nprocs, pid } of tally.byInode.values()) {
      const entry = cache.get(pid)!;
      entry.details ??= readDetails(pid);
      records.push({ type, inode, nprocs, pid, user: entry.details.user, command: entry.details.command });
    }
    return { source: 'proc', namespaces: sortNamespaces(records), processes, skipped };
  }
}
