/**
 * The only host access of host-namespaces: the `/proc` walk, the `lsns` subprocess, `/etc/passwd`.
 * Both namespace sources give the same {@link NamespaceScan}, so either can serve the table and the
 * other can check it.
 */
import { readFileSync, readlinkSync, statSync } from 'node:fs';
import { readFile, readdir } from 'node:fs/promises';
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import { join } from 'node:path';
import { createCachedProcReader } from './proc-cache.js';
import { NAMESPACE_TYPES, parseCmdline, parseLsnsJson, parseNamespaceLink, parsePasswd, sortNamespaces, } from './parse.js';
/** Error codes of {@link NamespaceSourceError}. */
export const SOURCE_ERROR_CODES = {
    PROC_UNREADABLE: 'the proc root cannot be listed',
    LSNS_MISSING: 'lsns is not installed',
    LSNS_FAILED: 'lsns failed or timed out',
    LSNS_OUTPUT: 'lsns printed something that is not namespace JSON',
};
/** The one runtime error of the namespace sources; the original failure is in `cause`. */
export class NamespaceSourceError extends Error {
    name = 'NamespaceSourceError';
    code;
    constructor(code, message, options) {
        super(message, options);
        this.code = code;
    }
}
function errnoCode(error) {
    return error?.code;
}
/** True for the errors that mean "this process is gone or not ours to read": skipped quietly, like lsns does. */
function isSkippable(error) {
    const code = errnoCode(error);
    return code === 'ENOENT' || code === 'ESRCH' || code === 'EACCES' || code === 'EPERM';
}
/** Lists the pids under `procRoot`, ascending. */
export async function readPids(procRoot) {
    let names;
    try {
        names = await readdir(procRoot);
    }
    catch (error) {
        throw new NamespaceSourceError('PROC_UNREADABLE', `cannot list ${procRoot}: ${error.message}`, { cause: error });
    }
    const pids = [];
    for (const name of names)
        if (/^\d+$/.test(name))
            pids.push(Number(name));
    return pids.sort((a, b) => a - b);
}
/**
 * Reads one process's namespace inodes from `<procRoot>/<pid>/ns/<type>` links. Types whose link is missing
 * (kernel without that namespace type) or unreadable are left out; `undefined` when none could be read
 * (the process exited, or it is not ours to read). Synchronous on purpose: a readlink on procfs takes a few
 * microseconds, and going through the libuv thread pool costs 3–4 times more CPU than the call itself
 * (bench/results/host-namespaces.md); callers keep batches small and yield between them.
 */
export function readProcessNamespaces(procRoot, pid, types = NAMESPACE_TYPES) {
    const namespaces = {};
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
        }
        catch (error) {
            if (!isSkippable(error))
                throw error;
        }
    }
    return found ? namespaces : undefined;
}
/**
 * The host's namespaces: those of pid 1 under `procRoot`, or of pid 2 (kthreadd, whose kernel threads always
 * live in the initial namespaces) when pid 1 cannot be read (some sandboxes deny it even to root).
 */
export function readHostNamespaces(procRoot) {
    for (const pid of [1, 2]) {
        const namespaces = readProcessNamespaces(procRoot, pid);
        if (namespaces)
            return { pid, namespaces };
    }
    return undefined;
}
/**
 * Reads the command lsns shows for a pid: its command line, else its `comm` (kernel threads); '' if it is gone.
 * Synchronous for the same reason as {@link readProcessNamespaces}.
 */
export function readCommand(procRoot, pid) {
    try {
        const cmdline = parseCmdline(readFileSync(join(procRoot, String(pid), 'cmdline'), 'utf8'));
        if (cmdline !== '')
            return cmdline;
        return readFileSync(join(procRoot, String(pid), 'comm'), 'utf8').trim();
    }
    catch (error) {
        if (isSkippable(error) || errnoCode(error) === 'EINVAL')
            return '';
        throw error;
    }
}
/** Reads uid → name from a passwd file; an unreadable file gives an empty map (users are then shown by uid). */
export async function readUserNames(passwdPath = '/etc/passwd') {
    try {
        return parsePasswd(await readFile(passwdPath, 'utf8'));
    }
    catch {
        // No passwd file (e.g. a distroless image): numeric uids are still correct output.
        return new Map();
    }
}
/**
 * The owner lsns shows: the uid owning `/proc/<pid>` (the process's effective uid; root for non-dumpable
 * processes), by name when the passwd file knows it. Undefined if the process is gone.
 */
export function readOwner(procRoot, pid, users) {
    try {
        const { uid } = statSync(join(procRoot, String(pid)));
        return users.get(uid) ?? String(uid);
    }
    catch (error) {
        if (isSkippable(error))
            return undefined;
        throw error;
    }
}
/**
 * Counts processes per namespace as lsns does (keyed by inode alone: nsfs inodes are unique across types).
 * Pids must be added in ascending order, so the first pid seen in a namespace is its lowest (lsns's PID
 * column). A process whose namespaces could not be read counts as skipped. Used by the uncached walk and the
 * per-process cache alike.
 */
export function createNamespaceTally(types) {
    const byInode = new Map();
    const tally = {
        byInode,
        processes: 0,
        skipped: 0,
        add(pid, namespaces) {
            if (!namespaces) {
                tally.skipped++;
                return;
            }
            tally.processes++;
            for (const type of types) {
                const inode = namespaces[type];
                if (inode === undefined)
                    continue;
                const existing = byInode.get(inode);
                if (existing)
                    existing.nprocs++;
                else
                    byInode.set(inode, { type, inode, nprocs: 1, pid });
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
export async function readNamespacesFromProc(procRoot, options = {}) {
    const types = options.types ?? NAMESPACE_TYPES;
    const batchSize = options.batchSize ?? 64;
    const [pids, users] = await Promise.all([readPids(procRoot), readUserNames(options.passwdPath)]);
    const tally = createNamespaceTally(types);
    for (let start = 0; start < pids.length; start += batchSize) {
        // Let /report requests through between batches: a batch blocks for well under a millisecond per 10 pids.
        if (start > 0)
            await yieldToEventLoop();
        options.signal?.throwIfAborted();
        for (const pid of pids.slice(start, start + batchSize))
            tally.add(pid, readProcessNamespaces(procRoot, pid, types));
    }
    const { processes, skipped } = tally;
    const accumulators = [...tally.byInode.values()];
    // Owner and command only for the lowest pid of each namespace: many namespaces share one pid.
    const leaders = [...new Set(accumulators.map((a) => a.pid))];
    const details = new Map();
    for (let start = 0; start < leaders.length; start += batchSize) {
        await yieldToEventLoop();
        options.signal?.throwIfAborted();
        for (const pid of leaders.slice(start, start + batchSize)) {
            details.set(pid, { user: readOwner(procRoot, pid, users) ?? '', command: readCommand(procRoot, pid) });
        }
    }
    const namespaces = accumulators.map(({ inode, type, nprocs, pid }) => ({ inode, type, nprocs, pid, user: details.get(pid)?.user ?? '', command: details.get(pid)?.command ?? '' }));
    return { source: 'proc', namespaces: sortNamespaces(namespaces), processes, skipped };
}
/**
 * Runs `lsns --json --list` (util-linux ≥ 2.28) and parses it. lsns always reads the real `/proc` of its own
 * pid namespace (it has no proc-root option). Its process count is of the processes it could read.
 */
export async function readNamespacesWithLsns(options = {}) {
    const types = options.types ?? NAMESPACE_TYPES;
    const args = ['--json', '--list', '--output', 'NS,TYPE,NPROCS,PID,USER,COMMAND'];
    // lsns 2.38 knows every type we do; pass a filter only when it narrows the set.
    if (types.length < NAMESPACE_TYPES.length)
        for (const type of types)
            args.push('--type', type);
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
    let namespaces;
    try {
        namespaces = parseLsnsJson(String(result.stdout));
    }
    catch (error) {
        throw new NamespaceSourceError('LSNS_OUTPUT', error.message, { cause: error });
    }
    const selected = new Set(types);
    return { source: 'lsns', namespaces: namespaces.filter((n) => selected.has(n.type)), processes: 0, skipped: 0 };
}
/** Creates a source by name over one proc root and type selection. */
export function createNamespaceSource(name, options) {
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
//# sourceMappingURL=collect.js.map