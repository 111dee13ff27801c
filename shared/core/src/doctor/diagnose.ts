import { isValidPluginId, pluginIdFromSocketPath } from '../protocol/ids.js';
import { isTopologyKey, type TopologyKey } from '../protocol/topologies.js';
import { diagnoseDecoded, formatPath, inspectReport, type InspectOptions, type Violation } from '../report/inspect.js';
import { parseFirstJsonValue, recoverApiVersionLiteral } from './first-json-value.js';
import type { PollResult } from './poll.js';

/** What Scope would make of one topology. */
export interface TopologySummary {
  nodes: string[];
  metadataTemplates: string[];
  metricTemplates: string[];
  tableTemplates: string[];
  controls: string[];
}

/** What the Scope probe would show for a plugin, and why. */
export interface Diagnosis {
  socketPath?: string;
  pluginId: string;
  /** `ok` or the probe's `error: …` text. */
  status: string;
  spec?: Record<string, unknown>;
  topologies: Record<string, TopologySummary>;
  violations: Violation[];
  elapsedMs?: number;
}

/** True when Scope would break or lose something: anything but `note`s, or a non-ok status. */
export function hasProblems(diagnosis: Diagnosis): boolean {
  return diagnosis.status !== 'ok' || diagnosis.violations.some((v) => v.kind !== 'note');
}

function keys(value: unknown): string[] {
  return value && typeof value === 'object' && !Array.isArray(value) ? Object.keys(value).sort() : [];
}

function summarize(report: unknown): Record<string, TopologySummary> {
  const out: Record<string, TopologySummary> = {};
  if (!report || typeof report !== 'object') return out;
  for (const [key, topology] of Object.entries(report as Record<string, unknown>)) {
    if (!isTopologyKey(key) || !topology || typeof topology !== 'object') continue;
    const t = topology as Record<string, unknown>;
    out[key] = {
      nodes: keys(t['nodes']),
      metadataTemplates: keys(t['metadata_templates']),
      metricTemplates: keys(t['metric_templates']),
      tableTemplates: keys(t['table_templates']),
      controls: keys(t['controls']),
    };
  }
  return out;
}

/** Options of {@link diagnoseReportBody}. */
export interface DiagnoseOptions {
  /** The id Scope derives from the socket name. */
  pluginId: string;
  /** The host id the probe would use. */
  hostId?: string;
  /** Whether the probe reports this node itself (see {@link InspectOptions.probeReports}). */
  probeReports?: (key: TopologyKey, nodeId: string) => boolean;
}

/** Decodes a `/report` body as Scope v1.13.2 does and says what the probe would show. */
export function diagnoseReportBody(body: string, options: DiagnoseOptions): Diagnosis {
  const base = { pluginId: options.pluginId, topologies: {} };
  let parsed;
  try {
    parsed = parseFirstJsonValue(body);
  } catch (error) {
    return { ...base, status: `error: decoding error: ${(error as Error).message}`, violations: [{ kind: 'decode', path: [], message: `body is not valid JSON: ${(error as Error).message}` }] };
  }
  recoverApiVersionLiteral(body, parsed.value);
  const inspect: InspectOptions = { pluginId: options.pluginId };
  if (options.hostId !== undefined) inspect.hostId = options.hostId;
  if (options.probeReports) inspect.probeReports = options.probeReports;
  const { status, violations } = diagnoseDecoded(parsed.value, inspect);
  if (parsed.trailing !== '') violations.push({ kind: 'note', path: [], message: `${parsed.trailing.length} bytes after the JSON value are ignored` });
  const specs = (parsed.value as { Plugins?: unknown })?.Plugins;
  const spec = Array.isArray(specs) && specs[0] && typeof specs[0] === 'object' ? (specs[0] as Record<string, unknown>) : undefined;
  return { ...base, status, ...(spec ? { spec } : {}), topologies: summarize(parsed.value), violations };
}

/** Turns a poll result into the diagnosis the probe would reach. */
export function diagnosePoll(socketPath: string, poll: PollResult, hostId?: string, probeReports?: DiagnoseOptions['probeReports']): Diagnosis {
  const pluginId = pluginIdFromSocketPath(socketPath);
  const base = { socketPath, pluginId, topologies: {}, elapsedMs: poll.elapsedMs };
  if (!isValidPluginId(pluginId)) {
    return { ...base, status: `error loading plugin ${socketPath}: invalid plugin id ${JSON.stringify(pluginId)}`, violations: [{ kind: 'registry', path: [], message: `socket name gives plugin id ${JSON.stringify(pluginId)}, which Scope's rule rejects` }] };
  }
  if (!poll.ok) return { ...base, status: `error: ${poll.error}`, violations: [{ kind: 'registry', path: [], message: poll.error }] };
  if (poll.statusCode !== 200) {
    const status = `error: plugin returned non-200 status code: ${poll.statusCode} ${poll.statusMessage}`;
    return { ...base, status, violations: [{ kind: 'registry', path: [], message: status.slice(7) }] };
  }
  const options: DiagnoseOptions = { pluginId };
  if (hostId !== undefined) options.hostId = hostId;
  if (probeReports) options.probeReports = probeReports;
  const diagnosis = diagnoseReportBody(poll.body, options);
  return { ...diagnosis, socketPath, elapsedMs: poll.elapsedMs };
}

/** Checks a `POST /control` answer: HTTP 200, a JSON object, `shortcutReport` (exact case) with `Plugins`. */
export function diagnoseControlResponse(poll: PollResult, options: DiagnoseOptions): { outcome: string; violations: Violation[]; shortcut?: Diagnosis } {
  if (!poll.ok) return { outcome: `error: ${poll.error}`, violations: [{ kind: 'registry', path: [], message: poll.error }] };
  if (poll.statusCode !== 200) {
    const message = `plugin returned non-200 status code: ${poll.statusCode} ${poll.statusMessage}`;
    return { outcome: `error: ${message}`, violations: [{ kind: 'registry', path: [], message }] };
  }
  let value: unknown;
  try {
    value = parseFirstJsonValue(poll.body).value;
  } catch (error) {
    return { outcome: 'error: decoding error', violations: [{ kind: 'decode', path: [], message: (error as Error).message }] };
  }
  if (!value || typeof value !== 'object' || Array.isArray(value)) return { outcome: 'error: decoding error', violations: [{ kind: 'decode', path: [], message: 'control response must be a JSON object' }] };
  const v = value as Record<string, unknown>;
  const violations: Violation[] = [];
  if ('ShortcutReport' in v) violations.push({ kind: 'lost', path: ['ShortcutReport'], message: 'the key is shortcutReport (lower-case s); ShortcutReport is ignored' });
  let shortcut: Diagnosis | undefined;
  if (v['shortcutReport'] !== undefined && v['shortcutReport'] !== null) {
    const plugins = (v['shortcutReport'] as Record<string, unknown>)?.['Plugins'];
    if (!Array.isArray(plugins) || plugins.length === 0) {
      violations.push({ kind: 'crash', path: ['shortcutReport', 'Plugins'], message: 'a shortcut report without Plugins crashes the probe (index out of range [0])' });
    }
    shortcut = diagnoseReportBody(JSON.stringify(v['shortcutReport']), options);
    for (const violation of shortcut.violations) violations.push({ ...violation, path: ['shortcutReport', ...violation.path] });
  }
  const outcome = typeof v['error'] === 'string' && v['error'] !== '' ? `error (UI gets 400): ${v['error']}` : shortcut ? 'ok, with shortcut report' : 'ok';
  return { outcome, violations, ...(shortcut ? { shortcut } : {}) };
}

/** Re-exported for formatting. */
export { formatPath, inspectReport };
