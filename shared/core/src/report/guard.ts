import { HOST_EXEC_CONTROL } from './builder.js';
import { formatPath, inspectReport, registryStatus, type Violation } from './inspect.js';
import type { Report } from './types.js';

/** Options of {@link guardReport}. */
export interface GuardOptions {
  pluginId: string;
  hostId?: string;
}

/** The result of {@link guardReport}: the report with every offending part removed, and what was removed. */
export interface GuardResult {
  report: Report;
  violations: Violation[];
}

function removeAt(root: unknown, path: Array<string | number>): void {
  let parent: unknown = root;
  for (const part of path.slice(0, -1)) {
    if (parent === null || typeof parent !== 'object') return;
    parent = (parent as Record<string | number, unknown>)[part];
  }
  const last = path[path.length - 1];
  if (last === undefined || parent === null || typeof parent !== 'object') return;
  if (Array.isArray(parent) && typeof last === 'number') parent.splice(last, 1);
  else delete (parent as Record<string | number, unknown>)[last];
}

/** Adds the probe's `host_exec` to a host node's control lists (both forms, where present), stamped like the list. */
function addHostExec(root: Report, nodeId: string): void {
  const node = root.Host?.nodes?.[nodeId];
  if (!node) return;
  const active = node.latest?.['active_controls'];
  if (active) active.value = [...active.value.split(';').filter((c) => c !== ''), HOST_EXEC_CONTROL].join(';');
  if (node.latestControls) {
    const timestamps = Object.values(node.latestControls).map((e) => e.timestamp).filter((t) => typeof t === 'string').sort();
    node.latestControls[HOST_EXEC_CONTROL] = { timestamp: active?.timestamp ?? timestamps.at(-1) ?? new Date().toISOString(), value: { dead: false } };
  }
}

/**
 * What a violation takes with it: a bad timestamp, date or value its whole latest entry or sample; a
 * bad field of a template (an id that is not its key, an empty prefix, an unknown type or `from`) the
 * whole template, and of a table column the column: without the field the template or column would be
 * as broken as before, only differently.
 */
function removalPath(path: Array<string | number>): Array<string | number> {
  const [, section, , field, index] = path;
  if (typeof section === 'string' && section.endsWith('_templates') && path.length > 3) {
    return field === 'columns' && typeof index === 'number' ? path.slice(0, 5) : path.slice(0, 3);
  }
  return ['timestamp', 'date', 'value'].includes(String(path.at(-1))) ? path.slice(0, -1) : path;
}

function comparePaths(a: Array<string | number>, b: Array<string | number>): number {
  // Deepest first, and for sibling array items the highest index first, so removals never shift a pending path.
  if (a.length !== b.length) return b.length - a.length;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    const y = b[i]!;
    if (x === y) continue;
    if (typeof x === 'number' && typeof y === 'number') return y - x;
    return String(x) < String(y) ? -1 : 1;
  }
  return 0;
}

/**
 * Checks everything a plugin emits before Scope sees it: any part that would make Scope reject the
 * report, crash, lose data or overwrite the probe's own data is removed (a host control list hiding the
 * probe's "Exec shell" gets `host_exec` added instead). `note`s are left alone.
 * The spec itself must be right (core builds it); a wrong spec throws.
 */
export function guardReport(report: Report, options: GuardOptions): GuardResult {
  const status = registryStatus(report, options.pluginId);
  if (status !== 'ok') throw new TypeError(`plugin spec is invalid (${status}); this is a bug in the plugin definition`);
  const violations = inspectReport(report, options).filter((v) => v.kind !== 'note');
  if (violations.length === 0) return { report, violations };
  const copy = structuredClone(report);
  // Repaired, not removed: deleting the list would drop the plugin's own controls as well.
  for (const v of violations) if (v.code === 'host-exec-hidden') addHostExec(copy, String(v.path[2]));
  const paths = violations.filter((v) => v.code !== 'host-exec-hidden').map((v) => removalPath(v.path));
  const unique = new Map(paths.map((p) => [JSON.stringify(p), p]));
  for (const path of [...unique.values()].sort(comparePaths)) {
    if (path.length === 0 || path[0] === 'Plugins') continue;
    removeAt(copy, path);
  }
  return { report: copy, violations };
}

/** One log line per guard violation. */
export function describeViolation(violation: Violation): string {
  return `${violation.kind}: ${formatPath(violation.path)}: ${violation.message}`;
}
