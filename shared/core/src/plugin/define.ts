import { CONTROL_ID_PATTERN, validatePluginId } from '../protocol/ids.js';
import { validatePositiveNumber } from '../util/backoff.js';
import { isTopologyKey, type TopologyKey } from '../protocol/topologies.js';
import type { Logger } from '../log.js';
import type { ReportBuilder } from '../report/builder.js';
import type { TopologyTemplates } from '../report/types.js';
import type { ControlRequest } from '../server/control-request.js';
import { validateMetricFamilies, type MetricFamily } from '../metrics/family.js';
import type { MetricsSink } from '../metrics/sink.js';

/** A plugin-specific command-line flag (commander syntax), also settable through an environment variable. */
export interface PluginOption {
  /** Commander flags, e.g. `--docker-host <url>` or `--no-psi`. */
  flags: string;
  description: string;
  /** @default undefined */
  default?: string | number | boolean | string[];
  /** Environment variable that sets it when the flag is absent. */
  env?: string;
  /** Converts the flag's text (e.g. to a number); throw a TypeError for a bad value. */
  parse?: (value: string, previous: unknown) => unknown;
}

/** What a plugin's `create` gets: where it runs and how to reach the host. */
export interface PluginContext {
  id: string;
  /** `$SCOPE_HOSTNAME` or the hostname, as Scope derives it. */
  hostId: string;
  log: Logger;
  /** Values of the plugin's own options, by commander attribute name (`--docker-host` → `dockerHost`). */
  options: Record<string, unknown>;
  /** Where `/proc` is read from. @default '/proc' */
  procRoot: string;
  /** Where `/sys` is read from. @default '/sys' */
  sysRoot: string;
  /** Aborted when the plugin stops. */
  signal: AbortSignal;
}

/** What each collection gets. */
export interface CollectContext {
  /** A fresh report, already holding the definition's static templates; fill in nodes. */
  report: ReportBuilder;
  now: Date;
  hostId: string;
  /** Aborted when the collection times out or the plugin stops. */
  signal: AbortSignal;
  /** Where the collection writes its Prometheus series (the definition's `metrics`); absent without `--metrics-listen`. */
  metrics?: MetricsSink;
}

/** A control handler's answer: a value for the UI, or an error saying what went wrong. */
export type ControlOutcome = { value?: unknown } | { error: string };

/** A plugin instance: state lives in the closure `create` returns. */
export interface PluginInstance {
  /** Fills `ctx.report`. Runs on the plugin's own schedule, never on the request path. */
  collect(ctx: CollectContext): void | Promise<void>;
  /** Handles a control already checked by core (known control, known node, active there). */
  control?(request: ControlRequest, ctx: { hostId: string }): ControlOutcome | void | Promise<ControlOutcome | void>;
  /** Releases what `create` acquired (child processes, streams). */
  close?(): void | Promise<void>;
}

/** A whole plugin, as one readable definition. */
export interface PluginDefinition {
  /** Scope plugin id; also the socket name `<root>/<id>/<id>.sock`. */
  id: string;
  /** Shown in Scope's plugin list. */
  label: string;
  description: string;
  /** How often `collect` runs. @default 1000 */
  intervalMs?: number;
  /** A collection slower than this is abandoned (and counted as missed). @default intervalMs */
  timeoutMs?: number;
  /** Missed collections before the data is marked stale. @default 3 */
  staleAfterMisses?: number;
  /** Collections `--once` runs (spaced by intervalMs) before printing, for rate-based plugins. @default 1 */
  onceCollects?: number;
  /** Static templates and controls per topology, sent with every report. */
  topologies?: Partial<Record<TopologyKey, TopologyTemplates>>;
  /** Plugin-specific flags. */
  options?: PluginOption[];
  /** Prometheus families the collection writes to `ctx.metrics`, each with its series bound. @default [] */
  metrics?: readonly MetricFamily[];
  /** Creates the instance: open clients, spawn helpers, set up state. */
  create(ctx: PluginContext): PluginInstance | Promise<PluginInstance>;
}

/** Validated definition with defaults applied. */
export type ResolvedPluginDefinition = PluginDefinition &
  Required<Pick<PluginDefinition, 'intervalMs' | 'timeoutMs' | 'staleAfterMisses' | 'onceCollects' | 'topologies' | 'options'>> & {
    /** Every control id the plugin declares. */
    controlIds: string[];
  };


/** Validates a plugin definition and fills in defaults. Throws a TypeError naming the bad value. */
export function definePlugin(definition: PluginDefinition): ResolvedPluginDefinition {
  validatePluginId(definition.id);
  if (typeof definition.label !== 'string' || definition.label.trim() === '') {
    throw new TypeError(`plugin ${definition.id}: label must be a non-empty string (Scope rejects a spec without one), got ${JSON.stringify(definition.label)}`);
  }
  if (typeof definition.create !== 'function') throw new TypeError(`plugin ${definition.id}: create must be a function`);
  const intervalMs = validatePositiveNumber('intervalMs', definition.intervalMs ?? 1000);
  const timeoutMs = validatePositiveNumber('timeoutMs', definition.timeoutMs ?? intervalMs);
  const staleAfterMisses = validatePositiveNumber('staleAfterMisses', definition.staleAfterMisses ?? 3);
  const onceCollects = validatePositiveNumber('onceCollects', definition.onceCollects ?? 1);
  const topologies = definition.topologies ?? {};
  const controlIds: string[] = [];
  for (const [key, templates] of Object.entries(topologies)) {
    if (!isTopologyKey(key)) throw new TypeError(`plugin ${definition.id}: unknown topology key ${JSON.stringify(key)} (keys are case-sensitive: Host, Container, Process, ...)`);
    for (const control of templates?.controls ?? []) {
      if (!CONTROL_ID_PATTERN.test(control.id)) throw new TypeError(`plugin ${definition.id}: control id must match ${CONTROL_ID_PATTERN}, got ${JSON.stringify(control.id)}`);
      controlIds.push(control.id);
    }
    for (const table of templates?.tableTemplates ?? []) {
      if (table.prefix === '') throw new TypeError(`plugin ${definition.id}: table ${table.id} needs a non-empty prefix`);
    }
  }
  validateMetricFamilies(`plugin ${definition.id}`, definition.metrics ?? []);
  return { ...definition, intervalMs, timeoutMs, staleAfterMisses, onceCollects, topologies, options: definition.options ?? [], controlIds };
}
