import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createMetricsBatch, type RecordedSeries } from '@scope-plugins/core';
import { HTTP_STATS_METRIC_FAMILIES, LATENCY_BUCKETS_SECONDS, createHttpStats, createHttpStatsMetricsRecorder, latencyBucketIndex, latencyBucketRange, type ProcessHttpStats } from '../src/index.js';

let dirs: string[] = [];
afterEach(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
  dirs = [];
});

/** A /proc-shaped directory holding only `<pid>/comm`: the one file the recorder reads. */
async function procWith(commands: Record<number, string>): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), 'sp-hm-'));
  dirs.push(root);
  for (const [pid, comm] of Object.entries(commands)) {
    await mkdir(join(root, pid));
    await writeFile(join(root, pid, 'comm'), `${comm}\n`);
  }
  return root;
}

const at = new Date('2026-01-01T00:00:00Z');

function page(series: ReadonlyMap<string, ReadonlyMap<string, RecordedSeries>>, family: string): Record<string, unknown> {
  return Object.fromEntries([...(series.get(family)?.values() ?? [])].map((s) => [s.labelValues.join('|'), s.value]));
}

async function record(recorder: ReturnType<typeof createHttpStatsMetricsRecorder>, snapshots: ProcessHttpStats[]) {
  const batch = createMetricsBatch(HTTP_STATS_METRIC_FAMILIES);
  await recorder.record(batch.sink, snapshots);
  expect(Object.fromEntries(batch.dropped())).toEqual({});
  return batch.snapshot().series;
}

describe('latency buckets', () => {
  it('a tracer bucket counts under the first bound its whole range fits under (never under-reports)', () => {
    expect(latencyBucketIndex(50)).toBe(0); // [50, 54) µs ≤ 100 µs
    expect(latencyBucketIndex(96)).toBe(1); // [96, 104) µs crosses 100 µs → ≤ 250 µs
    expect(latencyBucketIndex(900_000)).toBe(LATENCY_BUCKETS_SECONDS.indexOf(1));
    expect(latencyBucketIndex(20_000_000)).toBe(LATENCY_BUCKETS_SECONDS.length); // +Inf
    for (const bucketUs of [1, 15, 16, 100, 1000, 123_456, 9_000_000]) {
      const index = latencyBucketIndex(bucketUs);
      const { highUs } = latencyBucketRange(bucketUs);
      if (index < LATENCY_BUCKETS_SECONDS.length) expect(highUs / 1e6).toBeLessThanOrEqual(LATENCY_BUCKETS_SECONDS[index]!);
      if (index > 0) expect(highUs / 1e6).toBeGreaterThan(LATENCY_BUCKETS_SECONDS[index - 1]!);
    }
  });
});

describe('per-process series', () => {
  it('requests by method, responses by code, a latency histogram; the busiest processes get slots, the rest fold into other', async () => {
    const stats = createHttpStats();
    stats.add({ kind: 'requests', entries: [{ pid: 10, method: 'GET', count: 5 }, { pid: 10, method: 'POST', count: 1 }, { pid: 20, method: 'GET', count: 9 }, { pid: 30, method: 'GET', count: 2 }] }, at);
    stats.add({ kind: 'responses', entries: [{ pid: 10, status: 200, count: 5 }, { pid: 10, status: 599, count: 1 }, { pid: 20, status: 404, count: 9 }, { pid: 30, status: 200, count: 2 }] }, at);
    stats.add({ kind: 'latency', entries: [{ pid: 10, bucketUs: 50, count: 4 }, { pid: 10, bucketUs: 2_000_000, count: 2 }] }, at);
    const recorder = createHttpStatsMetricsRecorder(await procWith({ 10: 'nginx', 20: 'python3', 30: 'node' }), 2);
    const snap = () => stats.pids().map((pid) => stats.snapshot(pid, at)!);
    const series = await record(recorder, snap());
    expect(page(series, 'scope_http_stats_requests_total')).toEqual({ '10|nginx|GET': 5, '10|nginx|POST': 1, '20|python3|GET': 9, 'other|other|GET': 2 });
    // 599 is no registered code: code="other", so codes stay a fixed set.
    expect(page(series, 'scope_http_stats_responses_total')).toEqual({ '10|nginx|200': 5, '10|nginx|other': 1, '20|python3|404': 9, 'other|other|200': 2 });
    const histogram = page(series, 'scope_http_stats_request_duration_seconds')['10|nginx'] as { counts: number[]; sum: number };
    expect(histogram.counts[0]).toBe(4);
    expect(histogram.counts[LATENCY_BUCKETS_SECONDS.indexOf(2.5)]).toBe(2);
    expect(histogram.counts.reduce((a, b) => a + b, 0)).toBe(6);
    const mid = (bucketUs: number) => (latencyBucketRange(bucketUs).lowUs + latencyBucketRange(bucketUs).highUs) / 2 / 1e6;
    expect(histogram.sum).toBeCloseTo(4 * mid(50) + 2 * mid(2_000_000), 9);
    expect(histogram.sum).toBeCloseTo(4.13, 1);
    expect(page(series, 'scope_http_stats_processes')).toEqual({ '': 3 });

    // Process 20 exits: its series go; 30 (busiest without a slot) takes the slot and counts from now on.
    stats.drop(20);
    stats.add({ kind: 'requests', entries: [{ pid: 30, method: 'GET', count: 3 }] }, at);
    const after = await record(recorder, snap());
    expect(page(after, 'scope_http_stats_requests_total')).toEqual({ '10|nginx|GET': 5, '10|nginx|POST': 1, '30|node|GET': 3, 'other|other|GET': 2 });
  });

  it('while the tracer is down nothing is written and the slots are kept', async () => {
    const stats = createHttpStats();
    stats.add({ kind: 'requests', entries: [{ pid: 10, method: 'GET', count: 1 }] }, at);
    const recorder = createHttpStatsMetricsRecorder(await procWith({ 10: 'nginx' }), 1);
    await record(recorder, [stats.snapshot(10, at)!]);
    const down = createMetricsBatch(HTTP_STATS_METRIC_FAMILIES);
    await recorder.record(down.sink, undefined);
    expect(down.snapshot().series.size).toBe(0);
    stats.add({ kind: 'requests', entries: [{ pid: 10, method: 'GET', count: 1 }] }, at);
    expect(page(await record(recorder, [stats.snapshot(10, at)!]), 'scope_http_stats_requests_total')).toEqual({ '10|nginx|GET': 2 });
  });
});
