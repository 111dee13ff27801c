import { stat } from 'node:fs/promises';
import { pluginIdFromSocketPath, readHostId } from '../protocol/ids.js';
import { formatPath } from '../report/inspect.js';
import { diagnoseControlResponse, diagnosePoll, hasProblems, type Diagnosis } from './diagnose.js';
import { findPluginSockets } from './find-sockets.js';
import { readProbeNodes } from './probe-nodes.js';
import { pollReport, requestPlugin } from './poll.js';
import type { Violation } from '../report/inspect.js';

/** Options of {@link runDoctor}. */
export interface DoctorOptions {
  /** @default readHostId() */
  hostId?: string;
  /** @default 500 */
  timeoutMs?: number;
  /** Where the processes and containers the probe would report are read from. @default '/proc' */
  procRoot?: string;
  /** Also fire this control (unprefixed id) on `node` and check the answer. */
  control?: { control: string; nodeId: string; args?: Record<string, string> };
}

/** One socket's full check. */
export interface DoctorEntry {
  diagnosis: Diagnosis;
  control?: { outcome: string; violations: Violation[] };
}

/** Polls a socket, or every socket under a plugins root, as the Scope probe would, and diagnoses each. */
export async function runDoctor(target: string, options: DoctorOptions = {}): Promise<DoctorEntry[]> {
  const info = await stat(target).catch(() => undefined);
  if (!info) throw new Error(`${target} does not exist (give a plugin socket or a plugins root directory)`);
  const sockets = info.isDirectory() ? await findPluginSockets(target) : [target];
  if (info.isDirectory() && sockets.length === 0) throw new Error(`no plugin sockets under ${target}`);
  const hostId = options.hostId ?? readHostId();
  // Which processes and containers the probe reports is read from /proc only when a report has an
  // id-less process or container node to judge (a liveness check of a conforming plugin never pays for it).
  let probeReports: Awaited<ReturnType<typeof readProbeNodes>> | undefined;
  const entries: DoctorEntry[] = [];
  // Sequential, like the probe: one slow plugin delays the others, and the timings show it.
  for (const socketPath of sockets) {
    const poll = await pollReport(socketPath, undefined, options.timeoutMs ?? 500);
    let diagnosis = diagnosePoll(socketPath, poll, hostId, probeReports);
    if (!probeReports && diagnosis.violations.some((v) => v.code === 'node-without-id')) {
      probeReports = await readProbeNodes(hostId, options.procRoot);
      diagnosis = diagnosePoll(socketPath, poll, hostId, probeReports);
    }
    const entry: DoctorEntry = { diagnosis };
    if (options.control) {
      const body = JSON.stringify({ AppID: 'scope-plugins-doctor', Control: options.control.control, ControlArgs: options.control.args ?? null, NodeID: options.control.nodeId });
      const answer = await requestPlugin(socketPath, { method: 'POST', path: '/control?api_version=1&probe_id=5c0bed0c7054', body, timeoutMs: options.timeoutMs ?? 500 });
      entry.control = diagnoseControlResponse(answer, { pluginId: pluginIdFromSocketPath(socketPath), hostId, probeReports });
    }
    entries.push(entry);
  }
  return entries;
}

/** True when any entry shows something Scope would reject, crash on, or lose. */
export function doctorFailed(entries: DoctorEntry[]): boolean {
  return entries.some((e) => hasProblems(e.diagnosis) || (e.control?.violations.some((v) => v.kind !== 'note') ?? false));
}

/** Renders the doctor's findings as text for a terminal. */
export function formatDoctor(entries: DoctorEntry[]): string {
  const lines: string[] = [];
  for (const { diagnosis: d, control } of entries) {
    lines.push(`plugin ${d.pluginId}${d.socketPath ? ` (${d.socketPath})` : ''}`);
    lines.push(`  status: ${d.status}${d.elapsedMs !== undefined ? `   [answered in ${d.elapsedMs.toFixed(1)} ms]` : ''}`);
    if (d.spec) lines.push(`  spec: ${JSON.stringify(d.spec)}`);
    for (const [key, t] of Object.entries(d.topologies)) {
      lines.push(`  ${key}: ${t.nodes.length} node(s)${t.nodes.length ? `: ${t.nodes.slice(0, 5).join(', ')}${t.nodes.length > 5 ? ', …' : ''}` : ''}`);
      if (t.metadataTemplates.length) lines.push(`    metadata: ${t.metadataTemplates.join(', ')}`);
      if (t.metricTemplates.length) lines.push(`    metrics: ${t.metricTemplates.join(', ')}`);
      if (t.tableTemplates.length) lines.push(`    tables: ${t.tableTemplates.join(', ')}`);
      if (t.controls.length) lines.push(`    controls: ${t.controls.map((c) => `${d.pluginId}~${c}`).join(', ')}`);
    }
    if (control) lines.push(`  control: ${control.outcome}`);
    const all = [...d.violations, ...(control?.violations ?? [])];
    const problems = all.filter((v) => v.kind !== 'note');
    const notes = all.filter((v) => v.kind === 'note');
    lines.push(problems.length === 0 ? '  violations: none' : `  violations: ${problems.length}`);
    for (const v of problems) lines.push(`    [${v.kind}] ${formatPath(v.path)}: ${v.message}`);
    for (const v of notes) lines.push(`    [note] ${formatPath(v.path)}: ${v.message}`);
  }
  return lines.join('\n');
}
