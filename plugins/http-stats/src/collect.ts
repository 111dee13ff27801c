import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { hostNodeId, processNodeId, type ReportBuilder } from '@scope-plugins/core';
import type { HttpStats, ProcessHttpStats } from './stats.js';
import type { TracerStatus } from './tracer.js';

/** Latest key of the tracer's state on the host node. */
export const TRACER_KEY = 'http_stats_tracer';
/** Latest key of the TLS (OpenSSL uprobe) tracers' states on the host node. */
export const TLS_TRACER_KEY = 'http_stats_tls_tracers';
/** Latest keys of the per-process totals and latency. */
export const TOTAL_KEYS = {
  requests: 'http_stats_requests_total',
  responses: 'http_stats_responses_total',
  latencyP50: 'http_stats_latency_p50_ms',
  latencyP99: 'http_stats_latency_p99_ms',
  latencySamples: 'http_stats_latency_samples',
} as const;
/** Multicolumn table prefixes (no other key starts with them: Scope would crash). */
export const METHOD_TABLE_PREFIX = 'http_stats_method_';
export const STATUS_TABLE_PREFIX = 'http_stats_status_';
/** The original plugin's metric id for the request rate. */
export const REQUESTS_METRIC = 'http_requests_per_second';

/** The original plugin's metric id for one status code's response rate. */
export function statusMetricId(status: number): string {
  return `http_${status}_responses_per_second`;
}

/** What a collection needs from the host and the tracer. */
export interface CollectSources {
  procRoot: string;
  stats: HttpStats;
  tracerStatus(): TracerStatus;
  /** States of the TLS tracers, by the library each traces. @default none */
  tlsTracerStatuses?(): Array<{ library: string; status: TracerStatus }>;
}

/** True while `<procRoot>/<pid>` exists. */
export async function isProcessAlive(procRoot: string, pid: number): Promise<boolean> {
  try {
    await stat(join(procRoot, String(pid)));
    return true;
  } catch {
    // ENOENT is the answer "exited"; any other error also means we cannot show it as alive.
    return false;
  }
}

function rate(value: number): number {
  // Two decimals are all Scope shows; rounding keeps the JSON short.
  return Math.round(value * 1000) / 1000;
}

function describeTracer(status: TracerStatus): string {
  switch (status.state) {
    case 'running':
      return `running (bpftrace pid ${status.pid ?? '?'})`;
    case 'waiting':
      return `not running: ${status.reason ?? 'unknown'}`;
    default:
      return status.state;
  }
}

/** Adds one process node's metrics, totals and tables. Pure. */
export function buildProcessNode(report: ReportBuilder, hostId: string, s: ProcessHttpStats): void {
  const topology = report.topology('Process');
  const node = topology.node(processNodeId(hostId, s.pid));
  node.metric(REQUESTS_METRIC, rate(s.requests.perSecond), { min: 0, max: Math.max(1, rate(s.requests.perSecond)) });
  for (const [status, c] of s.statuses) {
    // Templates are added as codes appear: Scope shows only metrics that have one.
    topology.metricTemplate({ id: statusMetricId(status), label: `HTTP Resp ${status}/Second`, priority: status / 1000 });
    node.metric(statusMetricId(status), rate(c.perSecond), { min: 0, max: Math.max(1, rate(c.perSecond)) });
  }
  node.latest(TOTAL_KEYS.requests, s.requests.total).latest(TOTAL_KEYS.responses, s.responses.total).latest(TOTAL_KEYS.latencySamples, s.latencySamples);
  if (s.latencyP50Ms !== undefined) node.latest(TOTAL_KEYS.latencyP50, s.latencyP50Ms.toFixed(3));
  if (s.latencyP99Ms !== undefined) node.latest(TOTAL_KEYS.latencyP99, s.latencyP99Ms.toFixed(3));
  node.table(METHOD_TABLE_PREFIX, Object.fromEntries([...s.methods].map(([method, c]) => [method, { total: c.total, rate: rate(c.perSecond) }])));
  node.table(STATUS_TABLE_PREFIX, Object.fromEntries([...s.statuses].map(([status, c]) => [String(status), { total: c.total, rate: rate(c.perSecond) }])));
}

/**
 * Fills the report: the tracer's state on the host node and, while the tracer runs, a process node
 * for every traced process that still exists (an exited one is forgotten: its node and rates go away).
 * Returns the process stats it reported (for the metrics), or undefined while the tracer is not running.
 */
export async function collectHttpStats(report: ReportBuilder, hostId: string, now: Date, sources: CollectSources): Promise<ProcessHttpStats[] | undefined> {
  const tracer = sources.tracerStatus();
  const host = report.topology('Host').node(hostNodeId(hostId)).latest(TRACER_KEY, describeTracer(tracer));
  const tls = sources.tlsTracerStatuses?.() ?? [];
  host.latest(TLS_TRACER_KEY, tls.length === 0 ? 'none' : tls.map((t) => `${t.library}: ${describeTracer(t.status)}`).join('; '));
  // Without a running tracer the counts would silently stop: show no process nodes rather than stale ones.
  if (tracer.state !== 'running') return undefined;
  const reported: ProcessHttpStats[] = [];
  for (const pid of sources.stats.pids()) {
    if (!(await isProcessAlive(sources.procRoot, pid))) {
      sources.stats.drop(pid);
      continue;
    }
    const snapshot = sources.stats.snapshot(pid, now);
    if (snapshot) {
      buildProcessNode(report, hostId, snapshot);
      reported.push(snapshot);
    }
  }
  return reported;
}
