import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseTracerLine, type TracerEvent } from '../src/parse.js';
import { createHttpStats, percentileFromBuckets } from '../src/stats.js';

const FIXTURE = readFileSync(new URL('./fixtures/bpftrace-http-stats.jsonl', import.meta.url), 'utf8')
  .split('\n')
  .map(parseTracerLine)
  .filter((e): e is TracerEvent => e !== undefined && e.kind !== 'error');
const NODE_PID = 20404;
const T0 = Date.parse('2026-11-22T03:00:00Z');

/** Feeds the fixture the way it arrived: a batch of three maps each second. */
function fedStats(options?: Parameters<typeof createHttpStats>[0]) {
  const stats = createHttpStats(options);
  stats.markStarted(new Date(T0));
  let second = 0;
  for (const event of FIXTURE) {
    if (event.kind === 'requests') second++;
    stats.add(event, new Date(T0 + second * 1000));
  }
  return { stats, lastMs: T0 + second * 1000 };
}

describe('createHttpStats', () => {
  it('keeps totals since start per process, by method and by status', () => {
    const { stats, lastMs } = fedStats();
    const s = stats.snapshot(NODE_PID, new Date(lastMs))!;
    expect(s.requests.total).toBe(14);
    expect(s.responses.total).toBe(14);
    expect(Object.fromEntries([...s.statuses].map(([k, v]) => [k, v.total]))).toEqual({ 200: 7, 201: 2, 202: 2, 404: 1, 500: 1, 503: 1 });
    expect(Object.fromEntries([...s.methods].map(([k, v]) => [k, v.total]))).toEqual({ DELETE: 1, GET: 8, HEAD: 1, OPTIONS: 1, PATCH: 1, POST: 1, PUT: 1 });
    expect(s.latencySamples).toBe(14);
    expect(stats.pids()).toContain(NODE_PID);
  });

  it('snapshot() only reads: a snapshot far in the future changes nothing an earlier one sees', () => {
    const { stats, lastMs } = fedStats();
    const before = stats.snapshot(NODE_PID, new Date(lastMs));
    stats.snapshot(NODE_PID, new Date(lastMs + 3_600_000));
    stats.snapshotGroup([NODE_PID], new Date(lastMs + 3_600_000));
    expect(stats.snapshot(NODE_PID, new Date(lastMs))).toEqual(before);
    expect(before!.latencySamples).toBe(14);
  });

  it('takes the combined counts event as the three events it holds', () => {
    const split = createHttpStats();
    const combined = createHttpStats();
    for (const s of [split, combined]) s.markStarted(new Date(T0));
    const requests = [{ pid: 7, method: 'GET', count: 4 }];
    const responses = [{ pid: 7, status: 404, count: 3 }, { pid: 8, status: 200, count: 1 }];
    const latency = [{ pid: 7, bucketUs: 96, count: 3 }];
    split.add({ kind: 'requests', entries: requests }, new Date(T0 + 1000));
    split.add({ kind: 'responses', entries: responses }, new Date(T0 + 1000));
    split.add({ kind: 'latency', entries: latency }, new Date(T0 + 1000));
    combined.add({ kind: 'counts', requests, responses, latency }, new Date(T0 + 1000));
    expect(combined.pids()).toEqual([7, 8]);
    for (const pid of [7, 8]) expect(combined.snapshot(pid, new Date(T0 + 1500))).toEqual(split.snapshot(pid, new Date(T0 + 1500)));
  });

  it('gives rates over the rate window, dropping to zero (never below) once traffic stops', () => {
    const stats = createHttpStats({ rateWindowMs: 2000 });
    stats.markStarted(new Date(T0));
    stats.add({ kind: 'requests', entries: [{ pid: 1, method: 'GET', count: 10 }] }, new Date(T0 + 1000));
    stats.add({ kind: 'requests', entries: [{ pid: 1, method: 'GET', count: 30 }] }, new Date(T0 + 2000));
    expect(stats.snapshot(1, new Date(T0 + 2000))!.requests).toEqual({ total: 40, perSecond: 20 });
    expect(stats.snapshot(1, new Date(T0 + 3500))!.requests).toEqual({ total: 40, perSecond: 15 });
    const later = stats.snapshot(1, new Date(T0 + 10_000))!;
    expect(later.requests).toEqual({ total: 40, perSecond: 0 });
    expect(later.methods.get('GET')).toEqual({ total: 40, perSecond: 0 });
  });

  it('does not dilute the first rates with time before the tracer started', () => {
    const stats = createHttpStats({ rateWindowMs: 10_000 });
    stats.markStarted(new Date(T0));
    stats.add({ kind: 'responses', entries: [{ pid: 3, status: 202, count: 6 }] }, new Date(T0 + 1000));
    expect(stats.snapshot(3, new Date(T0 + 2000))!.statuses.get(202)).toEqual({ total: 6, perSecond: 3 });
  });

  it('gives latency percentiles over the latency window only', () => {
    const stats = createHttpStats({ latencyWindowMs: 5000 });
    stats.add({ kind: 'latency', entries: [{ pid: 2, bucketUs: 1000, count: 1 }] }, new Date(T0));
    stats.add({ kind: 'latency', entries: [{ pid: 2, bucketUs: 100, count: 98 }, { pid: 2, bucketUs: 8192, count: 2 }] }, new Date(T0 + 4000));
    const s = stats.snapshot(2, new Date(T0 + 4500))!;
    expect(s.latencySamples).toBe(101);
    expect(s.latencyP50Ms).toBeCloseTo(0.1 + (50.5 / 98) * 0.008, 6);
    expect(s.latencyP99Ms!).toBeGreaterThanOrEqual(1);
    const later = stats.snapshot(2, new Date(T0 + 6000))!;
    expect(later.latencySamples).toBe(100);
    expect(later.latencyP99Ms!).toBeGreaterThanOrEqual(8.192);
    expect(stats.snapshot(2, new Date(T0 + 60_000))!.latencyP50Ms).toBeUndefined();
  });

  it('forgets a dropped process', () => {
    const { stats, lastMs } = fedStats();
    stats.drop(NODE_PID);
    expect(stats.snapshot(NODE_PID, new Date(lastMs))).toBeUndefined();
    expect(stats.pids()).not.toContain(NODE_PID);
  });

  it('refuses bad windows with a TypeError', () => {
    expect(() => createHttpStats({ rateWindowMs: 10 })).toThrow(/rateWindowMs must be a number of milliseconds >= 1000, got 10/);
    expect(() => createHttpStats({ latencyWindowMs: Number.NaN })).toThrow(TypeError);
  });
});

describe('percentileFromBuckets', () => {
  it('interpolates inside the bucket that holds the rank', () => {
    expect(percentileFromBuckets([], 0.5)).toBeUndefined();
    expect(percentileFromBuckets([{ bucketUs: 256, count: 4 }], 0.5)).toBe(256 + 0.5 * 32);
    expect(percentileFromBuckets([{ bucketUs: 8, count: 1 }, { bucketUs: 4096, count: 1 }], 1)).toBe(4096 + 512);
    expect(() => percentileFromBuckets([], 0)).toThrow(TypeError);
  });
});

describe('snapshotGroup and retire (a container: the sum of its processes)', () => {
  const at = (s: number) => new Date(T0 + s * 1000);
  function three() {
    const stats = createHttpStats({ rateWindowMs: 5000 });
    stats.markStarted(at(0));
    stats.add({ kind: 'requests', entries: [{ pid: 1, method: 'GET', count: 10 }, { pid: 2, method: 'GET', count: 5 }, { pid: 2, method: 'POST', count: 5 }, { pid: 3, method: 'PUT', count: 99 }] }, at(4));
    stats.add({ kind: 'responses', entries: [{ pid: 1, status: 200, count: 10 }, { pid: 2, status: 200, count: 4 }, { pid: 2, status: 404, count: 6 }, { pid: 3, status: 500, count: 99 }] }, at(4));
    stats.add({ kind: 'latency', entries: [{ pid: 1, bucketUs: 1024, count: 10 }, { pid: 2, bucketUs: 65536, count: 10 }] }, at(4));
    return stats;
  }
  const totals = (m: Map<string | number, { total: number }>) => Object.fromEntries([...m].map(([k, v]) => [k, v.total]));

  it('sums counts and rates of the given processes only, and takes latency over all their responses', () => {
    const stats = three();
    const group = stats.snapshotGroup([1, 2], at(5))!;
    expect(group.requests).toEqual({ total: 20, perSecond: 4 });
    expect(group.responses).toEqual({ total: 20, perSecond: 4 });
    expect(totals(group.statuses)).toEqual({ 200: 14, 404: 6 });
    expect(totals(group.methods)).toEqual({ GET: 15, POST: 5 });
    expect(group.latencySamples).toBe(20);
    // Half the responses are fast (pid 1), half slow (pid 2): the median sits at the edge between them.
    const one = stats.snapshot(1, at(5))!;
    const two = stats.snapshot(2, at(5))!;
    expect(group.latencyP50Ms!).toBeGreaterThanOrEqual(one.latencyP50Ms!);
    expect(group.latencyP50Ms!).toBeLessThan(two.latencyP50Ms!);
    // The slow process sets the tail: p99 lies in its bucket, above every fast response.
    expect(group.latencyP99Ms!).toBeGreaterThan(one.latencyP99Ms!);
    expect(group.latencyP99Ms!).toBeLessThanOrEqual(two.latencyP99Ms!);
    expect(stats.snapshotGroup([42], at(5))).toBeUndefined();
  });

  it('keeps an exited process in its container sums once retired, until the group is dropped', () => {
    const stats = three();
    stats.retire(2, 'c1');
    expect(stats.pids()).toEqual([1, 3]);
    expect(stats.groups()).toEqual(['c1']);
    const group = stats.snapshotGroup([1], at(5), 'c1')!;
    expect(group.requests.total).toBe(20);
    expect(totals(group.statuses)).toEqual({ 200: 14, 404: 6 });
    expect(group.latencySamples).toBe(20);
    stats.dropGroup('c1');
    expect(stats.snapshotGroup([1], at(5), 'c1')!.requests.total).toBe(10);
  });
});
