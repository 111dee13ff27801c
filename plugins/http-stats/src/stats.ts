import { latencyBucketRange, type TracerEvent } from './parse.js';

/** Options of {@link createHttpStats}. */
export interface HttpStatsOptions {
  /** Rates are counts over this much recent time. @default 5000 */
  rateWindowMs?: number;
  /** Latency percentiles cover this much recent time. @default 60000 */
  latencyWindowMs?: number;
}

/** A total since the plugin started and a current rate. */
export interface CountAndRate {
  total: number;
  perSecond: number;
}

/** What is known about one process. */
export interface ProcessHttpStats {
  pid: number;
  requests: CountAndRate;
  responses: CountAndRate;
  /** By status code. */
  statuses: Map<number, CountAndRate>;
  /** By method name. */
  methods: Map<string, CountAndRate>;
  /** Median request → response latency in ms over the latency window, if any response was timed. */
  latencyP50Ms: number | undefined;
  /** 99th percentile, likewise. */
  latencyP99Ms: number | undefined;
  /** Responses timed in the latency window. */
  latencySamples: number;
  /** Every response timed since the plugin started, by the tracer's latency bucket (µs, see `latencyBucketRange`). */
  latencyTotals: ReadonlyMap<number, number>;
}

/** Per-process HTTP counters fed by tracer events. */
export interface HttpStats {
  /** Adds one parsed tracer event received at `at`. */
  add(event: TracerEvent, at: Date): void;
  /** Marks the moment counting (re)started, so early rates are not diluted by time nobody watched. */
  markStarted(at: Date): void;
  /** Pids with any data. */
  pids(): number[];
  /**
   * Forgets a process and drops its future counts until {@link unignore} (an excluded process: its traffic then
   * neither costs a state nor counts as a change).
   */
  ignore(pid: number): void;
  /** Counts a process again (an ignored process exited: its pid may come back as another process). */
  unignore(pid: number): void;
  /** The ignored pids. */
  ignoredPids(): number[];
  /** Forgets a process (it exited). */
  drop(pid: number): void;
  /** The stats of one process at `now`. */
  snapshot(pid: number, now: Date): ProcessHttpStats | undefined;
  /**
   * The stats of several processes together at `now` (e.g. a container's): counts and rates summed,
   * latency percentiles over all their timed responses. `pid` is the first of `pids`; undefined if none has data.
   */
  snapshotGroup(pids: readonly number[], now: Date, group?: string): ProcessHttpStats | undefined;
  /**
   * Folds a process that exited into `group`'s retained counts (its container's), so the group's totals
   * and recent rates keep its traffic; {@link snapshotGroup} with that `group` includes them.
   */
  retire(pid: number, group: string): void;
  /** Forgets a group's retained counts. */
  dropGroup(group: string): void;
  /** Groups with retained counts. */
  groups(): string[];
  /** Grows with every change of the counts (new counts, a process dropped or retired, a group dropped, a restart). */
  version(): number;
  /**
   * From this time on every snapshot stays as it is until the next change ({@link version}): the newest counts
   * have left both windows, so rates are 0 and no latency is in the window. Before any count: minus infinity.
   */
  quietFromMs(): number;
}

interface Counter {
  total: number;
  recent: Array<{ atMs: number; count: number }>;
}

interface ProcessState {
  requests: Counter;
  responses: Counter;
  statuses: Map<number, Counter>;
  methods: Map<string, Counter>;
  latency: Array<{ atMs: number; bucketUs: number; count: number }>;
  latencyTotals: Map<number, number>;
  /** Time of the newest count (minus infinity before any). */
  newestMs: number;
}

function mergeCounter(into: Counter, from: Counter): void {
  into.total += from.total;
  // Rates only sum the entries inside the window, so their order does not matter.
  into.recent.push(...from.recent);
}

/** The entries no older than `windowMs` before the newest one. */
function withinWindow<T extends { atMs: number }>(entries: T[], windowMs: number): T[] {
  const newest = entries.reduce((max, e) => Math.max(max, e.atMs), Number.NEGATIVE_INFINITY);
  return entries.filter((e) => e.atMs > newest - windowMs);
}

function mergeCounters<K>(into: Map<K, Counter>, from: Map<K, Counter>): void {
  for (const [key, counter] of from) {
    let target = into.get(key);
    if (!target) into.set(key, (target = newCounter()));
    mergeCounter(target, counter);
  }
}

function mergeTotals(maps: Array<ReadonlyMap<number, number>>): Map<number, number> {
  const out = new Map<number, number>();
  for (const map of maps) for (const [bucket, count] of map) out.set(bucket, (out.get(bucket) ?? 0) + count);
  return out;
}

function validateWindow(name: string, value: number): number {
  if (!Number.isFinite(value) || value < 1000) throw new TypeError(`${name} must be a number of milliseconds >= 1000, got ${JSON.stringify(value)}`);
  return value;
}

function newCounter(): Counter {
  return { total: 0, recent: [] };
}

/** Counts `count` at `atMs`; entries older than `windowMs` go now, so memory stays bounded and reads stay pure. */
function bump(counter: Counter, count: number, atMs: number, windowMs: number): void {
  counter.total += count;
  const last = counter.recent[counter.recent.length - 1];
  if (last && last.atMs === atMs) last.count += count;
  else counter.recent.push({ atMs, count });
  if (counter.recent[0]!.atMs <= atMs - windowMs) counter.recent = counter.recent.filter((e) => e.atMs > atMs - windowMs);
}

/**
 * Estimates a percentile from histogram buckets (sorted or not): the value inside the bucket holding
 * the rank, interpolated linearly. Pure; exported for tests.
 */
export function percentileFromBuckets(buckets: Array<{ bucketUs: number; count: number }>, quantile: number): number | undefined {
  const merged = new Map<number, number>();
  for (const b of buckets) if (b.count > 0) merged.set(b.bucketUs, (merged.get(b.bucketUs) ?? 0) + b.count);
  return percentilesOfHistogram(merged, [quantile])[0];
}

/**
 * Several percentiles of one histogram (bucket lower bound µs → count) in one sorted pass, each as
 * {@link percentileFromBuckets} computes it; undefined for each when the histogram is empty.
 */
function percentilesOfHistogram(histogram: ReadonlyMap<number, number>, quantiles: readonly number[]): Array<number | undefined> {
  for (const q of quantiles) if (!(q > 0 && q <= 1)) throw new TypeError(`quantile must be in (0, 1], got ${q}`);
  let total = 0;
  for (const count of histogram.values()) if (count > 0) total += count;
  const out: Array<number | undefined> = quantiles.map(() => undefined);
  if (total === 0) return out;
  const sorted = [...histogram.keys()].sort((a, b) => a - b);
  for (const [i, q] of quantiles.entries()) {
    const rank = q * total;
    let seen = 0;
    for (const bucketUs of sorted) {
      const count = histogram.get(bucketUs)!;
      if (count <= 0) continue;
      if (seen + count >= rank) {
        const { lowUs, highUs } = latencyBucketRange(bucketUs);
        out[i] = lowUs + ((rank - seen) / count) * (highUs - lowUs);
        break;
      }
      seen += count;
    }
  }
  return out;
}

/** Creates empty {@link HttpStats}. Counts only ever grow, so rates are never negative. */
export function createHttpStats(options: HttpStatsOptions = {}): HttpStats {
  const rateWindowMs = validateWindow('rateWindowMs', options.rateWindowMs ?? 5000);
  const latencyWindowMs = validateWindow('latencyWindowMs', options.latencyWindowMs ?? 60_000);
  const processes = new Map<number, ProcessState>();
  const retained = new Map<string, ProcessState>();
  const emptyState = (): ProcessState => ({ requests: newCounter(), responses: newCounter(), statuses: new Map(), methods: new Map(), latency: [], latencyTotals: new Map(), newestMs: Number.NEGATIVE_INFINITY });
  let startedMs: number | undefined;
  let version = 0;
  const ignored = new Set<number>();

  const state = (pid: number): ProcessState => {
    let s = processes.get(pid);
    if (!s) {
      s = emptyState();
      processes.set(pid, s);
    }
    return s;
  };

  /** Seconds of the rate window actually watched at `nowMs`. */
  const watchedSeconds = (nowMs: number): number => {
    // Right after (re)start the window is only partly watched; never divide by less than a second.
    const watchedMs = Math.max(1000, Math.min(rateWindowMs, startedMs === undefined ? rateWindowMs : nowMs - startedMs));
    return watchedMs / 1000;
  };

  /** Adds a counter's total and current rate into `into` (read-only: pruning happens when counts are added). */
  const addRate = (into: CountAndRate, counter: Counter, nowMs: number, seconds: number): CountAndRate => {
    const oldest = nowMs - rateWindowMs;
    let sum = 0;
    for (const e of counter.recent) if (e.atMs > oldest) sum += e.count;
    into.total += counter.total;
    into.perSecond += sum / seconds;
    return into;
  };

  const self: HttpStats = {
    add(event, at) {
      if (event.kind === 'counts') {
        self.add({ kind: 'requests', entries: event.requests }, at);
        self.add({ kind: 'responses', entries: event.responses }, at);
        self.add({ kind: 'latency', entries: event.latency }, at);
        return;
      }
      const atMs = at.getTime();
      let counted = false;
      switch (event.kind) {
        case 'requests':
          for (const e of event.entries) {
            if (ignored.has(e.pid)) continue;
            counted = true;
            const s = state(e.pid);
            s.newestMs = Math.max(s.newestMs, atMs);
            s.newestMs = Math.max(s.newestMs, atMs);
            s.newestMs = Math.max(s.newestMs, atMs);
            bump(s.requests, e.count, atMs, rateWindowMs);
            let m = s.methods.get(e.method);
            if (!m) s.methods.set(e.method, (m = newCounter()));
            bump(m, e.count, atMs, rateWindowMs);
          }
          break;
        case 'responses':
          for (const e of event.entries) {
            if (ignored.has(e.pid)) continue;
            counted = true;
            const s = state(e.pid);
            bump(s.responses, e.count, atMs, rateWindowMs);
            let c = s.statuses.get(e.status);
            if (!c) s.statuses.set(e.status, (c = newCounter()));
            bump(c, e.count, atMs, rateWindowMs);
          }
          break;
        case 'latency':
          for (const e of event.entries) {
            if (ignored.has(e.pid)) continue;
            counted = true;
            const s = state(e.pid);
            s.latency.push({ atMs, bucketUs: e.bucketUs, count: e.count });
            if (s.latency[0]!.atMs <= atMs - latencyWindowMs) s.latency = s.latency.filter((entry) => entry.atMs > atMs - latencyWindowMs);
            // Running totals for the Prometheus histogram, which (unlike the percentiles) never forgets.
            s.latencyTotals.set(e.bucketUs, (s.latencyTotals.get(e.bucketUs) ?? 0) + e.count);
          }
          break;
        default:
          break;
      }
      if (counted) version++;
    },
    markStarted(at) {
      version++;
      startedMs = at.getTime();
    },
    pids() {
      return [...processes.keys()].sort((a, b) => a - b);
    },
    drop(pid) {
      version++;
      processes.delete(pid);
    },
    snapshot(pid, now) {
      return snapshotOf([pid], now);
    },
    snapshotGroup(pids, now, group) {
      return snapshotOf(pids, now, group === undefined ? undefined : retained.get(group));
    },
    retire(pid, group) {
      version++;
      const s = processes.get(pid);
      if (!s) return;
      processes.delete(pid);
      let target = retained.get(group);
      if (!target) retained.set(group, (target = emptyState()));
      mergeCounter(target.requests, s.requests);
      mergeCounter(target.responses, s.responses);
      mergeCounters(target.statuses, s.statuses);
      mergeCounters(target.methods, s.methods);
      target.latency.push(...s.latency);
      for (const [bucket, count] of s.latencyTotals) target.latencyTotals.set(bucket, (target.latencyTotals.get(bucket) ?? 0) + count);
      // A group outlives many processes: keep only what its windows can still read (reads never prune).
      for (const counter of [target.requests, target.responses, ...target.statuses.values(), ...target.methods.values()]) counter.recent = withinWindow(counter.recent, rateWindowMs);
      target.latency = withinWindow(target.latency, latencyWindowMs);
      target.newestMs = Math.max(target.newestMs, s.newestMs);
    },
    dropGroup(group) {
      version++;
      retained.delete(group);
    },
    groups() {
      return [...retained.keys()].sort();
    },
    version() {
      return version;
    },
    ignore(pid) {
      if (processes.has(pid)) version++;
      processes.delete(pid);
      ignored.add(pid);
    },
    unignore(pid) {
      ignored.delete(pid);
    },
    ignoredPids() {
      return [...ignored];
    },
    quietFromMs() {
      // Only the states still held count: a dropped or ignored process's counts are in no snapshot.
      let newestMs = Number.NEGATIVE_INFINITY;
      for (const s of processes.values()) newestMs = Math.max(newestMs, s.newestMs);
      for (const s of retained.values()) newestMs = Math.max(newestMs, s.newestMs);
      return newestMs + Math.max(rateWindowMs, latencyWindowMs);
    },
  };

  return self;

  /**
   * Plain loops, no intermediate arrays: this runs for every traced process every second, and at 1 Hz its
   * garbage (not its arithmetic) was most of the cost. Sums run in the same order as a reduce would, so a
   * group's numbers are exactly the sums of its members'.
   */
  function snapshotOf(pids: readonly number[], now: Date, extra?: ProcessState): ProcessHttpStats | undefined {
    const states: ProcessState[] = [];
    for (const pid of pids) {
      const s = processes.get(pid);
      if (s) states.push(s);
    }
    if (extra) states.push(extra);
    if (states.length === 0) return undefined;
    const nowMs = now.getTime();
    const requests = { total: 0, perSecond: 0 };
    const responses = { total: 0, perSecond: 0 };
    const statuses = new Map<number, CountAndRate>();
    const methods = new Map<string, CountAndRate>();
    const seconds = watchedSeconds(nowMs);
    const addRates = <K>(into: Map<K, CountAndRate>, from: Map<K, Counter>) => {
      for (const [key, counter] of from) {
        const target = into.get(key);
        if (target) addRate(target, counter, nowMs, seconds);
        else into.set(key, addRate({ total: 0, perSecond: 0 }, counter, nowMs, seconds));
      }
    };
    // Percentiles over the union of every process's buckets: a container's latency is that of all its responses.
    const histogram = new Map<number, number>();
    let latencySamples = 0;
    const oldestLatencyMs = nowMs - latencyWindowMs;
    for (const s of states) {
      addRate(requests, s.requests, nowMs, seconds);
      addRate(responses, s.responses, nowMs, seconds);
      addRates(statuses, s.statuses);
      addRates(methods, s.methods);
      for (const e of s.latency) {
        if (e.atMs <= oldestLatencyMs) continue;
        latencySamples += e.count;
        histogram.set(e.bucketUs, (histogram.get(e.bucketUs) ?? 0) + e.count);
      }
    }
    const [p50, p99] = percentilesOfHistogram(histogram, [0.5, 0.99]);
    return {
      pid: pids[0]!,
      requests,
      responses,
      statuses: statuses.size > 1 ? new Map([...statuses].sort((a, b) => a[0] - b[0])) : statuses,
      // Code-unit order, not localeCompare: method names are ASCII tokens, and any collator maps ~2.7 MiB of ICU data.
      methods: methods.size > 1 ? new Map([...methods].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))) : methods,
      latencyP50Ms: p50 === undefined ? undefined : p50 / 1000,
      latencyP99Ms: p99 === undefined ? undefined : p99 / 1000,
      latencySamples,
      latencyTotals: states.length === 1 ? states[0]!.latencyTotals : mergeTotals(states.map((s) => s.latencyTotals)),
    };
  }
}
