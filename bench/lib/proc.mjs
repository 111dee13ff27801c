// Per-process cost from /proc, for the benchmarks: CPU (utime+stime, fields 14-15 of /proc/<pid>/stat, plus
// cutime+cstime 16-17 of children already reaped) and memory (VmRSS of /proc/<pid>/status), of a process and
// all its descendants.
import { readFileSync, readdirSync } from 'node:fs';

/** Clock ticks per second (USER_HZ); 100 on every Linux this runs on. */
export const CLK_TCK = 100;

function statFields(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command (which may hold spaces): state is field 3, so index i here is field i+3.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

/** utime+stime of one process in ticks; cutime+cstime (reaped children) apart. Undefined when gone. */
export function readTicks(pid) {
  const f = statFields(pid);
  if (!f) return undefined;
  return { own: Number(f[11]) + Number(f[12]), reaped: Number(f[13]) + Number(f[14]), ppid: Number(f[1]) };
}

/** VmRSS of one process in KiB (0 when gone). */
export function readRssKb(pid) {
  try {
    return Number(/^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
  } catch {
    return 0;
  }
}

/** Every descendant pid of `root` (children, grandchildren, ...), from one pass over /proc. */
export function descendantsOf(root) {
  const children = new Map();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const t = readTicks(Number(name));
    if (!t) continue;
    if (!children.has(t.ppid)) children.set(t.ppid, []);
    children.get(t.ppid).push(Number(name));
  }
  const out = [];
  const queue = [root];
  while (queue.length > 0) {
    for (const c of children.get(queue.shift()) ?? []) {
      out.push(c);
      queue.push(c);
    }
  }
  return out;
}

/** Number of processes (not threads) on the host. */
export function countProcesses() {
  return readdirSync('/proc').filter((n) => /^\d+$/.test(n)).length;
}

/** Time on CPU of one process in ns, summed over its threads (/proc/<pid>/task/<tid>/schedstat, first field): exact, not in ticks. */
export function readSchedNs(pid) {
  let ns = 0;
  try {
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      try {
        ns += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
      } catch {
        // The thread ended meanwhile.
      }
    }
  } catch {
    return 0;
  }
  return ns;
}

/**
 * A CPU snapshot of a process tree: the root's own and reaped-children ticks and every live descendant's
 * own ticks. {@link cpuDelta} of two snapshots is what the tree spent in between.
 */
export function snapshotTree(root) {
  const r = readTicks(root);
  const descendants = new Map();
  const sched = new Map([[root, readSchedNs(root)]]);
  for (const pid of descendantsOf(root)) {
    const t = readTicks(pid);
    if (t) descendants.set(pid, t.own + t.reaped);
    sched.set(pid, readSchedNs(pid));
  }
  return { root: r ? r.own : 0, reaped: r ? r.reaped : 0, descendants, sched };
}

/** CPU of a live process tree between two snapshots in ms, from schedstat (ns): finer than ticks, for ratios. */
export function schedDeltaMs(before, after) {
  let ns = 0;
  for (const [pid, value] of after.sched) ns += value - (before.sched.get(pid) ?? 0);
  return ns / 1e6;
}

/** CPU spent between two snapshots, in ms: the root process and its descendants (live or reaped) apart. */
export function cpuDelta(before, after) {
  let children = after.reaped - before.reaped;
  for (const [pid, ticks] of after.descendants) children += ticks - (before.descendants.get(pid) ?? 0);
  const ms = 1000 / CLK_TCK;
  return { processMs: (after.root - before.root) * ms, childrenMs: children * ms };
}

/** RSS of a process tree in KiB: the root and the sum of its live descendants apart. */
export function rssTree(root) {
  let children = 0;
  for (const pid of descendantsOf(root)) children += readRssKb(pid);
  return { processKb: readRssKb(root), childrenKb: children };
}
