/**
 * The http-stats plugin's Prometheus families, from the same per-process stats the report is built from.
 * Bound: {@link MAX_PROCESS_SERIES} processes get their own series (the busiest by requests, kept while they live);
 * every other process is summed into `pid="other"`. Methods are the tracer's fixed set; codes outside the
 * registered HTTP status codes are `code="other"`. So at most (N+1) × (methods | registered codes + 1) series
 * per counter family and N+1 histograms. An exited process' series go away.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { OTHER, createCounterFolder, defineMetricFamily, type CounterVector, type MetricsSink } from '@scope-plugins/core';
import { HTTP_METHODS, latencyBucketRange } from './parse.js';
import type { ProcessHttpStats } from './stats.js';

/** Most processes with their own series. */
export const MAX_PROCESS_SERIES = 20;

/** Status codes registered with IANA; any other code seen is counted as `code="other"`. */
export const REGISTERED_STATUS_CODES: ReadonlySet<number> = new Set([
  100, 101, 102, 103, 200, 201, 202, 203, 204, 205, 206, 207, 208, 226, 300, 301, 302, 303, 304, 305, 307, 308, 400, 401, 402, 403, 404, 405, 406, 407, 408,
  409, 410, 411, 412, 413, 414, 415, 416, 417, 418, 421, 422, 423, 424, 425, 426, 428, 429, 431, 451, 500, 501, 502, 503, 504, 505, 506, 507, 508, 510, 511,
]);

/** Latency histogram bounds in seconds (100 µs to 10 s). */
export const LATENCY_BUCKETS_SECONDS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10] as const;

const METHODS = [...new Set(Object.values(HTTP_METHODS))];

/** The families. */
export const HTTP_STATS_METRICS = {
  requests: defineMetricFamily({
    name: 'scope_http_stats_requests_total',
    help: `HTTP/1.x requests read by the process, by method, since the plugin started tracing it; beyond the ${MAX_PROCESS_SERIES} busiest processes, pid="other"`,
    kind: 'counter',
    labelNames: ['pid', 'command', 'method'],
    maxSeries: (MAX_PROCESS_SERIES + 1) * METHODS.length,
  }),
  responses: defineMetricFamily({
    name: 'scope_http_stats_responses_total',
    help: `HTTP/1.x responses written by the process, by status code (unregistered codes: code="other"); beyond the ${MAX_PROCESS_SERIES} busiest processes, pid="other"`,
    kind: 'counter',
    labelNames: ['pid', 'command', 'code'],
    maxSeries: (MAX_PROCESS_SERIES + 1) * (REGISTERED_STATUS_CODES.size + 1),
  }),
  duration: defineMetricFamily({
    name: 'scope_http_stats_request_duration_seconds',
    help: "Time from reading a request to writing its response's status line; the tracer's log-linear buckets are mapped to these bounds by their upper edge, and _sum uses bucket midpoints",
    kind: 'histogram',
    labelNames: ['pid', 'command'],
    maxSeries: MAX_PROCESS_SERIES + 1,
    buckets: LATENCY_BUCKETS_SECONDS,
  }),
  processes: defineMetricFamily({
    name: 'scope_http_stats_processes',
    help: 'Live processes with traced HTTP traffic (each with its own series or summed into pid="other")',
    kind: 'gauge',
    labelNames: [],
    maxSeries: 1,
  }),
} as const;

/** Every family, for the definition's `metrics`. */
export const HTTP_STATS_METRIC_FAMILIES = Object.values(HTTP_STATS_METRICS);

/** Index in {@link LATENCY_BUCKETS_SECONDS} (length = +Inf) of a tracer bucket: the first bound its upper edge fits under. */
export function latencyBucketIndex(bucketUs: number): number {
  const highSeconds = latencyBucketRange(bucketUs).highUs / 1e6;
  const index = LATENCY_BUCKETS_SECONDS.findIndex((bound) => highSeconds <= bound);
  return index < 0 ? LATENCY_BUCKETS_SECONDS.length : index;
}

/** A process' running totals as one vector: `m:<method>`, `c:<code>`, `b:<bucket index>`, `s` (sum in seconds). Pure. */
export function buildCounterVector(s: ProcessHttpStats): Map<string, number> {
  const vector = new Map<string, number>();
  const add = (key: string, value: number) => vector.set(key, (vector.get(key) ?? 0) + value);
  for (const [method, c] of s.methods) add(`m:${method}`, c.total);
  for (const [code, c] of s.statuses) add(`c:${REGISTERED_STATUS_CODES.has(code) ? code : OTHER}`, c.total);
  for (const [bucketUs, count] of s.latencyTotals) {
    const { lowUs, highUs } = latencyBucketRange(bucketUs);
    add(`b:${latencyBucketIndex(bucketUs)}`, count);
    add('s', (count * (lowUs + highUs)) / 2 / 1e6);
  }
  return vector;
}

function writeVector(sink: MetricsSink, pid: string, command: string, vector: CounterVector): void {
  const m = HTTP_STATS_METRICS;
  const counts = new Array<number>(LATENCY_BUCKETS_SECONDS.length + 1).fill(0);
  let sum = 0;
  for (const [key, value] of vector) {
    const [kind, label = ''] = key.split(':');
    if (kind === 'm') sink.set(m.requests, { pid, command, method: label }, value);
    else if (kind === 'c') sink.set(m.responses, { pid, command, code: label }, value);
    else if (kind === 'b') counts[Number(label)] = value;
    else if (kind === 's') sum = value;
  }
  sink.setHistogram(m.duration, { pid, command }, { counts, sum });
}

/** Records per-process series across collections (it keeps the slot state that bounds them). */
export interface HttpStatsMetricsRecorder {
  /** Writes the series of the processes the report shows; `undefined` (tracer down) writes none and keeps the state. */
  record(sink: MetricsSink | undefined, reported: readonly ProcessHttpStats[] | undefined): Promise<void>;
}

/** Creates a recorder reading each slotted process' `comm` once from `procRoot`. */
export function createHttpStatsMetricsRecorder(procRoot: string, maxProcesses = MAX_PROCESS_SERIES): HttpStatsMetricsRecorder {
  const folder = createCounterFolder(maxProcesses);
  const commands = new Map<string, string>();
  const readCommand = async (pid: string): Promise<string> => {
    const cached = commands.get(pid);
    if (cached !== undefined) return cached;
    // comm, not cmdline: short, bounded (15 bytes) and what `ps`/`top` show.
    const command = await readFile(join(procRoot, pid, 'comm'), 'utf8').then(
      (text) => text.trim(),
      () => '',
    );
    commands.set(pid, command);
    return command;
  };
  return {
    async record(sink, reported) {
      if (!sink || !reported) return;
      const folded = folder.update(reported.map((s) => ({ key: String(s.pid), totals: buildCounterVector(s), weight: s.requests.total })));
      const live = new Set(folded.slotted.map((s) => s.key));
      for (const pid of commands.keys()) if (!live.has(pid)) commands.delete(pid);
      sink.set(HTTP_STATS_METRICS.processes, {}, reported.length);
      for (const { key, totals } of folded.slotted) writeVector(sink, key, await readCommand(key), totals);
      if (folded.other) writeVector(sink, OTHER, OTHER, folded.other);
    },
  };
}
