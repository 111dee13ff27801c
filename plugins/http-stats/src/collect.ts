import { existsSync } from 'node:fs';
import { STATUS_CODES } from 'node:http';
import { UNCHANGED, containerNodeId, hostNodeId, processNodeId, type MetadataTemplate, type NodeBuilder, type ReportBuilder, type TableRows, type TopologyBuilder } from '@scope-plugins/core';
import type { ContainerLookup } from './containers.js';
import type { Excluder } from './exclude.js';
import type { HttpStats, ProcessHttpStats } from './stats.js';
import type { TracerStatus } from './tracer.js';
import type { UnchangedCheck } from './unchanged.js';

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
/** Latest key on container nodes: how many of its processes served HTTP (the sums are over these). */
export const PROCESS_COUNT_KEY = 'http_stats_processes';
/** Multicolumn table prefixes (no other key starts with them: Scope would crash). */
export const METHOD_TABLE_PREFIX = 'http_stats_method_';
export const STATUS_TABLE_PREFIX = 'http_stats_status_';
/** Column ids of the two tables; the first column names the row (Scope shows only declared columns). */
export const TABLE_COLUMNS = { method: 'method', status: 'status', total: 'total', rate: 'rate' } as const;
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
  /** Processes whose traffic is never shown (the plugin itself, `--exclude`). @default none */
  excluder?: Excluder;
  /** pid → container, for the per-container sums. @default no container nodes */
  containers?: ContainerLookup;
  /** The latency window, named in the label of the responses the percentiles cover. @default 60000 */
  latencyWindowMs?: number;
  /** When given, a collection that would rebuild the last report returns UNCHANGED instead. @default always build */
  unchanged?: UnchangedCheck;
}

/** The metadata template of the number of responses behind the latency percentiles, naming the window. */
export function latencySamplesTemplate(latencyWindowMs: number): MetadataTemplate {
  const window = latencyWindowMs % 60_000 === 0 ? `${latencyWindowMs / 60_000} min` : `${latencyWindowMs / 1000} s`;
  return { id: TOTAL_KEYS.latencySamples, label: `HTTP responses in p50/p99 (last ${window})`, dataType: 'number', from: 'latest', priority: 10.5 };
}

/** True while `<procRoot>/<pid>` exists. */
export function isProcessAlive(procRoot: string, pid: number): boolean {
  // Synchronous on purpose: a procfs lookup never blocks, and this runs for every traced process every
  // second (a promise stat each, a thread-pool round trip, was once http-stats' largest CPU share).
  // existsSync is access(2): no Stats object; any error (ENOENT: exited) means we cannot show it as alive.
  return existsSync(`${procRoot}/${pid}`);
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

/** A status cell as a person reads it: `404 Not Found`. */
export function describeStatus(status: number): string {
  const reason = STATUS_CODES[status];
  return reason ? `${status} ${reason}` : String(status);
}

/** Writes one node's HTTP metrics, totals, latency and tables (a process's, or a container's sums). */
function fillHttpNode(topology: TopologyBuilder, node: NodeBuilder, s: ProcessHttpStats): void {
  node.metric(REQUESTS_METRIC, rate(s.requests.perSecond), { min: 0, max: Math.max(1, rate(s.requests.perSecond)) });
  for (const [status, c] of s.statuses) {
    // Templates are added as codes appear: Scope shows only metrics that have one.
    topology.metricTemplate({ id: statusMetricId(status), label: `HTTP Resp ${status}/Second`, priority: status / 1000 });
    node.metric(statusMetricId(status), rate(c.perSecond), { min: 0, max: Math.max(1, rate(c.perSecond)) });
  }
  node.latest(TOTAL_KEYS.requests, s.requests.total).latest(TOTAL_KEYS.responses, s.responses.total).latest(TOTAL_KEYS.latencySamples, s.latencySamples);
  if (s.latencyP50Ms !== undefined) node.latest(TOTAL_KEYS.latencyP50, s.latencyP50Ms.toFixed(3));
  if (s.latencyP99Ms !== undefined) node.latest(TOTAL_KEYS.latencyP99, s.latencyP99Ms.toFixed(3));
  const { method, status, total, rate: perSecond } = TABLE_COLUMNS;
  const methods: TableRows = {};
  for (const [name, c] of s.methods) methods[name] = { [method]: name, [total]: c.total, [perSecond]: rate(c.perSecond) };
  node.table(METHOD_TABLE_PREFIX, methods);
  const statuses: TableRows = {};
  for (const [code, c] of s.statuses) statuses[code] = { [status]: describeStatus(code), [total]: c.total, [perSecond]: rate(c.perSecond) };
  node.table(STATUS_TABLE_PREFIX, statuses);
}

/** Adds one process node's metrics, totals and tables. Pure. */
export function buildProcessNode(report: ReportBuilder, hostId: string, s: ProcessHttpStats): void {
  const topology = report.topology('Process');
  fillHttpNode(topology, topology.node(processNodeId(hostId, s.pid)), s);
}

/** Adds one container node: the sums over `processes` of its processes (their count is shown too). Pure. */
export function buildContainerNode(report: ReportBuilder, containerId: string, s: ProcessHttpStats, processes: number): void {
  const topology = report.topology('Container');
  const node = topology.node(containerNodeId(containerId));
  fillHttpNode(topology, node, s);
  node.latest(PROCESS_COUNT_KEY, processes);
}

/**
 * Fills the report: the tracer's state on the host node and, while the tracer runs, a process node
 * for every traced process that still exists (an exited one is forgotten: its node and rates go away)
 * and is not excluded, and a container node for every container holding such processes.
 * Returns the process stats it reported (for the metrics), undefined while the tracer is not running, or
 * UNCHANGED (report left empty) when `sources.unchanged` says the last report still holds.
 */
export async function collectHttpStats(report: ReportBuilder, hostId: string, now: Date, sources: CollectSources): Promise<ProcessHttpStats[] | undefined | typeof UNCHANGED> {
  const tracer = sources.tracerStatus();
  const tls = sources.tlsTracerStatuses?.() ?? [];
  const tracerLine = describeTracer(tracer);
  const tlsLine = tls.length === 0 ? 'none' : tls.map((t) => `${t.library}: ${describeTracer(t.status)}`).join('; ');
  const hostLines = `${tracerLine}\n${tlsLine}`;
  // An excluded process's pid can come back as another process: it is counted again once the excluded one exited.
  for (const pid of sources.stats.ignoredPids()) {
    if (isProcessAlive(sources.procRoot, pid)) continue;
    sources.stats.unignore(pid);
    sources.excluder?.forget(pid);
    sources.containers?.forget(pid);
  }
  if (sources.unchanged?.isUnchanged(now, hostLines, (pid) => isProcessAlive(sources.procRoot, pid))) return UNCHANGED;
  report.topology('Host').node(hostNodeId(hostId)).latest(TRACER_KEY, tracerLine).latest(TLS_TRACER_KEY, tlsLine);
  if (sources.latencyWindowMs !== undefined && sources.latencyWindowMs !== 60_000) {
    for (const key of ['Process', 'Container'] as const) report.topology(key).metadataTemplate(latencySamplesTemplate(sources.latencyWindowMs));
  }
  // Without a running tracer the counts would silently stop: show no process nodes rather than stale ones.
  if (tracer.state !== 'running') {
    sources.unchanged?.built(now, hostLines);
    return undefined;
  }
  const reported: ProcessHttpStats[] = [];
  const byContainer = new Map<string, number[]>();
  // The lookups answer from their caches synchronously for a known pid: awaiting only a real promise keeps a
  // steady collection free of per-process promises (each one also runs core's async hooks).
  for (const pid of sources.stats.pids()) {
    if (!isProcessAlive(sources.procRoot, pid)) {
      // A process seen in a container while it lived keeps counting in that container's sums.
      const container = await sources.containers?.containerOf(pid);
      if (container && !(await sources.excluder?.isExcluded(pid))) sources.stats.retire(pid, container);
      else sources.stats.drop(pid);
      sources.excluder?.forget(pid);
      sources.containers?.forget(pid);
      continue;
    }
    let excluded = sources.excluder?.isExcluded(pid);
    if (excluded instanceof Promise) excluded = await excluded;
    if (excluded) {
      // Its next counts are dropped as they arrive, so an excluded busy process (dockerd) changes no report.
      sources.stats.ignore(pid);
      continue;
    }
    const snapshot = sources.stats.snapshot(pid, now);
    if (!snapshot) continue;
    buildProcessNode(report, hostId, snapshot);
    reported.push(snapshot);
    let container = sources.containers?.containerOf(pid);
    if (container instanceof Promise) container = await container;
    if (container) {
      const pids = byContainer.get(container);
      if (pids) pids.push(pid);
      else byContainer.set(container, [pid]);
    }
  }
  for (const [container, pids] of byContainer) {
    const sums = sources.stats.snapshotGroup(pids, now, container);
    if (sums) buildContainerNode(report, container, sums, pids.length);
  }
  // Retained counts live as long as the container has a live traced process: then it is still there.
  for (const group of sources.stats.groups()) if (!byContainer.has(group)) sources.stats.dropGroup(group);
  sources.unchanged?.built(now, hostLines);
  return reported;
}
