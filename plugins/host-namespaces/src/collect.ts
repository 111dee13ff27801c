/**
 * The only host access of host-namespaces: the `/proc` walk, the `lsns` subprocess, `/etc/passwd`.
 * Both namespace sources give the same {@link NamespaceScan}, so either can serve the table and the
 * other can check it.
 */
import { readFileSync, readlinkSync, statSync } from 'node:fs';
import { readFile, readdir } from 'node:fs/promises';
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import { join } from 'node:path';
import { createCachedProcReader, type CachedProcReaderOptions } from './proc-cache.js';
import {
  NAMESPACE_TYPES,
  parseCmdline,
  parseLsnsJson,
  parseNamespaceLink,
  parsePasswd,
  sortNamespaces,
  type NamespaceRecord,
  type NamespaceType,
} from './parse.js';

/** Where a scan came from. */
export type NamespaceSourceName = 'proc' | 'lsns';

/** One complete look at the host's namespaces. */
export interface NamespaceScan {
  source: NamespaceSourceName;
  namespaces: NamespaceRecord[];
  /** Processes whose namespaces were read. */
  processes: number;
  /** Processes skipped: exited mid-scan or unreadable (EACCES). Always 0 for lsns, which skips silently. */
  skipped: number;
  /**
   * How many times, since the source was created, a process it already knew was found in other namespaces than
   * before (setns, unshare without a new process, a pid reused): a running total, so a change of it between two
   * scans means a count moved for that reason. Undefined when the source cannot tell (lsns, the uncached walk):
   * then every count change is treated as one of these.
   */
  inPlaceChanges?: number;
}

/** A way to read the namespaces: the `/proc` walk or `lsns`. */
export interface NamespaceSource {
  readonly name: NamespaceSourceName;
  read(signal?: AbortSignal): Promise<NamespaceScan>;
  /**
   * A process's namespaces as of the last read, when the source keeps them (the cached proc source): null when it
   * knows the process but could not read it, undefined when it does not know it.
   */
  namespacesOf?(pid: number): Partial<Record<NamespaceType, string>> | null | undefined;
}

/** Error codes of {@link NamespaceSourceError}. */
export const SOURCE_ERROR_CODES = {
  PROC_UNREADABLE: 'the proc root cannot be listed',
  LSNS_MISSING: 'lsns is not installed',
  LSNS_FAILED: 'lsns failed or timed out',
  LSNS_OUTPUT: 'lsns printed something that is not namespace JSON',
} as const;

/** The one runtime error of the namespace sources; the original failure is in `cause`. */
export class NamespaceSourceError extends Error {
  override readonly name = 'NamespaceSourceError';
  readonly code: keyof typeof SOURCE_ERROR_CODES;

  constructor(code: keyof typeof SOURCE_ERROR_CODES, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

/** Options shared by both sources. */
export interface NamespaceSourceOptions {
  /** Namespace types to read. @default NAMESPACE_TYPES */
  types?: readonly NamespaceType[];
}

/** Options of {@link readNamespacesFromProc}. */
export interface ProcSourceOptions extends NamespaceSourceOptions {
  /** User database for uid → name. @default '/etc/passwd' */
  passwdPath?: string;
  /** Processes read per batch (each is up to 8 readlinks); the event loop gets a turn between batches. @default 64 */
  batchSize?: number;
  signal?: AbortSignal;
}

function errnoCode(error: unknown): string | undefined {
  return (error as NodeJS.ErrnoException | undefined)?.code;
}

/** True for the errors that mean "this process is gone or not ours to read": skipped quietly, like lsns does. */
function isSkippable(error: unknown): boolean {
  const code = errnoCode(error);
  return code === 'ENOENT' || code === 'ESRCH' || code === 'EACCES' || code === 'EPERM';
}

/** Lists the pids under `procRoot`, ascending. */
export async function readPids(procRoot: string): Promise<number[]> {
  let names: string[];
  try {
    names = await readdir(procRoot);
  } catch (error) {
    throw new NamespaceSourceError('PROC_UNREADABLE', `cannot list ${procRoot}: ${(error as Error).message}`, { cause: error });
  }
  const pids: number[] = [];
  for (const name of names) if (/^\d+$/.test(name)) pids.push(Number(name));
  return pids.sort((a, b) => a - b);
}

/**
 * Reads one process's namespace inodes from `<procRoot>/<pid>/ns/<type>` links. Types whose link is missing
 * (kernel without that namespace type) or unreadable are left out; `undefined` when none could be read
 * (the process exited, or it is not ours to read). Synchronous on purpose: a readlink on procfs takes a few
 * microseconds, and going through the libuv thread pool costs 3–4 times more CPU than the call itself
 * (bench/results/host-namespaces.md); callers keep batches small and yield between them.
 */
export function readProcessNamespaces(
  procRoot: string,
  pid: number,
  types: readonly NamespaceType[] = NAMESPACE_TYPES,
): Partial<Record<NamespaceType, string>> | undefined {
  const namespaces: Partial<Record<NamespaceType, string>> = {};
  let found = false;
  // Concatenated, not path.join: this runs for every link of every process read, and join normalizes each time.
  const base = `${procRoot}/${pid}/ns/`;
  for (const type of types) {
    try {
      const link = parseNamespaceLink(readlinkSync(base + type));
      if (link && link.type === type) {
        namespaces[type] = link.inode;
        found = true;
      }
    } catch (error) {
      if (!isSkippable(error)) throw error;
    }
  }
  return found ? namespaces : undefined;
}

/**
 * The host's namespaces: those of pid 1 under `procRoot`, or of pid 2 (kthreadd, whose kernel threads always
 * live in the initial namespaces) when pid 1 cannot be read (some sandboxes deny it even to root).
 */
export function readHostNamespaces(procRoot: string): { pid: number; namespaces: Partial<Record<NamespaceType, string>> } | undefined {
  for (const pid of [1, 2]) {
    const namespaces = readProcessNamespaces(procRoot, pid);
    if (namespaces) return { pid, namespaces };
  }
  return undefined;
}

/**
 * Reads the command lsns shows for a pid: its command line, else its `comm` (kernel threads); '' if it is gone.
 * Synchronous for the same reason as {@link readProcessNamespaces}.
 */
export function readCommand(procRoot: string, pid: number): string {
  try {
    const cmdline = parseCmdline(readFileSync(join(procRoot, String(pid), 'cmdline'), 'utf8'));
    if (cmdline !== '') return cmdline;
    return readFileSync(join(procRoot, String(pid), 'comm'), 'utf8').trim();
  } catch (error) {
    if (isSkippable(error) || errnoCode(error) === 'EINVAL') return '';
    throw error;
  }
}

/** Reads uid → name from a passwd file; an unreadable file gives an empty map (users are then shown by uid). */
export async function readUserNames(passwdPath = '/etc/passwd'): Promise<Map<number, string>> {
  try {
    return parsePasswd(await readFile(passwdPath, 'utf8'));
  } catch {
    // No passwd file (e.g. a distroless image): numeric uids are still correct output.
    return new Map();
  }
}

/**
 * The owner lsns shows: the uid owning `/proc/<pid>` (the process's effective uid; root for non-dumpable
 * processes), by name when the passwd file knows it. Undefined if the process is gone.
 */
export function readOwner(procRoot: string, pid: number, users: Map<number, string>): string | undefined {
  try {
    const { uid } = statSync(join(procRoot, String(pid)));
    return users.get(uid) ?? String(uid);
  } catch (error) {
    if (isSkippable(error)) return undefined;
    throw error;
  }
}

/** One namespace while processes are counted: its type, inode, process count and lowest pid. */
export interface NamespaceTallyEntry {
  type: NamespaceType;
  inode: string;
  nprocs: number;
  pid: number;
}

/**
 * Counts processes per namespace as lsns does (keyed by inode alone: nsfs inodes are unique across types).
 * Pids must be added in ascending order, so the first pid seen in a namespace is its lowest (lsns's PID
 * column). A process whose namespaces could not be read counts as skipped. Used by the uncached walk and the
 * per-process cache alike.
 */
export function createNamespaceTally(types: readonly NamespaceType[]) {
  const byInode = new Map<string, NamespaceTallyEntry>();
  const tally = {
    byInode,
    processes: 0,
    skipped: 0,
    add(pid: number, namespaces: Partial<Record<NamespaceType, string>> | undefined): void {
      if (!namespaces) {
        tally.skipped++;
        return;
      }
      tally.processes++;
      for (const type of types) {
        const inode = namespaces[type];
        if (inode === undefined) continue;
        const existing = byInode.get(inode);
        if (existing) existing.nprocs++;
        else byInode.set(inode, { type, inode, nprocs: 1, pid });
      }
    },
  };
  return tally;
}

/**
 * Walks `<procRoot>/<pid>/ns/*` for every process (not thread), as lsns does: one record per namespace
 * inode with its process count, lowest pid, that pid's owner and command. Processes that exit mid-scan or
 * cannot be read are skipped and counted in `skipped`.
 */
export async function readNamespacesFromProc(procRoot: string, options: ProcSourceOptions = {}): Promise<NamespaceScan> {
  const types = options.types ?? NAMESPACE_TYPES;
  const batchSize = options.batchSize ?? 64;
  const [pids, users] = await Promise.all([readPids(procRoot), readUserNames(options.passwdPath)]);
  const tally = createNamespaceTally(types);
  for (let start = 0; start < pids.length; start += batchSize) {
    // Let /report requests through between batches: a batch blocks for well under a millisecond per 10 pids.
    if (start > 0) await yieldToEventLoop();
    options.signal?.throwIfAborted();
    for (const pid of pids.slice(start, start + batchSize)) tally.add(pid, readProcessNamespaces(procRoot, pid, types));
  }
  const { processes, skipped } = tally;
  const accumulators = [...tally.byInode.values()];
  // Owner and command only for the lowest pid of each namespace: many namespaces share one pid.
  const leaders = [...new Set(accumulators.map((a) => a.pid))];
  const details = new Map<number, { user: string; command: string }>();
  for (let start = 0; start < leaders.length; start += batchSize) {
    await yieldToEventLoop();
    options.signal?.throwIfAborted();
    for (const pid of leaders.slice(start, start + batchSize)) {
      details.set(pid, { user: readOwner(procRoot, pid, users) ?? '', command: readCommand(procRoot, pid) });
    }
  }
  const namespaces = accumulators.map(
    ({ inode, type, nprocs, pid }): NamespaceRecord => ({ inode, type, nprocs, pid, user: details.get(pid)?.user ?? '', command: details.get(pid)?.command ?? '' }),
  );
  return { source: 'proc', namespaces: sortNamespaces(namespaces), processes, skipped };
}

/** Options of {@link readNamespacesWithLsns}. */
export interface LsnsSourceOptions extends NamespaceSourceOptions {
  /** The lsns binary. @default 'lsns' */
  lsnsPath?: string;
  /** @default 5000 */
  timeoutMs?: number;
  signal?: AbortSignal;
}

/**
 * Runs `lsns --json --list` (util-linux ≥ 2.28) and parses it. lsns always reads the real `/proc` of its own
 * pid namespace (it has no proc-root option). Its process count is of the processes it could read.
 */
export async function readNamespacesWithLsns(options: LsnsSourceOptions = {}): Promise<NamespaceScan> {
  const types = options.types ?? NAMESPACE_TYPES;
  const args = ['--json', '--list', '--output', 'NS,TYPE,NPROCS,PID,USER,COMMAND'];
  // lsns 2.38 knows every type we do; pass a filter only when it narrows the set.
  if (types.length < NAMESPACE_TYPES.length) for (const type of types) args.push('--type', type);
  // Loaded on first use: the default proc source never needs execa (about 16 MiB of modules).
  const { execa } = await import('execa');
  const result = await execa(options.lsnsPath ?? 'lsns', args, {
    timeout: options.timeoutMs ?? 5000,
    reject: false,
    stripFinalNewline: false,
    env: { LC_ALL: 'C' },
    ...(options.signal ? { cancelSignal: options.signal } : {}),
  });
  if (errnoCode(result.cause) === 'ENOENT') {
    throw new NamespaceSourceError('LSNS_MISSING', `${options.lsnsPath ?? 'lsns'} not found: install util-linux (Debian: apt-get install util-linux)`, { cause: result.cause });
  }
  if (result.failed) {
    const why = result.timedOut ? `timed out after ${options.timeoutMs ?? 5000} ms` : result.isCanceled ? 'was cancelled' : `exited with ${result.exitCode ?? result.signal}: ${String(result.stderr).trim()}`;
    throw new NamespaceSourceError('LSNS_FAILED', `lsns ${why}`, { cause: result.cause ?? result });
  }
  let namespaces: NamespaceRecord[];
  try {
    namespaces = parseLsnsJson(String(result.stdout));
  } catch (error) {
    throw new NamespaceSourceError('LSNS_OUTPUT', (error as Error).message, { cause: error });
  }
  const selected = new Set<string>(types);
  return { source: 'lsns', namespaces: namespaces.filter((n) => selected.has(n.type)), processes: 0, skipped: 0 };
}

/** Creates a source by name over one proc root and type selection. */
export function createNamespaceSource(name: NamespaceSourceName, options: CachedProcReaderOptions & LsnsSourceOptions & { procRoot: string }): NamespaceSource {
  if (name === 'proc') {
    // Cached: links are read for new processes and a rotating share of the known ones (proc-cache.ts).
    const reader = createCachedProcReader(options.procRoot, options);
    return { name, read: (signal) => reader.read(signal), namespacesOf: (pid) => reader.namespacesOf(pid) };
  }
  if (name === 'lsns') {
    return { name, read: (signal) => readNamespacesWithLsns({ ...options, ...(signal ? { signal } : {}) }) };
  }
  throw new TypeError(`namespace source must be "proc" or "lsns", got ${JSON.stringify(name)}`);
}
