import { CONTROL_ID_PATTERN, validatePluginId } from '../protocol/ids.js';
import { validatePositiveNumber } from '../util/validate.js';
import { isTopologyKey, type TopologyKey } from '../protocol/topologies.js';
import type { Logger } from '../log.js';
import type { ReportBuilder } from '../report/builder.js';
import type { TopologyTemplates } from '../report/types.js';
import type { ControlRequest } from '../server/control-request.js';
import { validateMetricFamilies, type MetricFamily } from '../metrics/family.js';
import type { MetricsSink } from '../metrics/sink.js';
import { validateOptionSchema, type OptionSchema, type OptionValues } from './options.js';
import type { AcquireShared } from './shared.js';

/** What a plugin's `create` gets: where it runs and how to reach the host. */
export interface PluginContext<V = OptionValues<OptionSchema>> {
  id: string;
  /** `$SCOPE_HOSTNAME` or the hostname, as Scope derives it. */
  hostId: string;
  log: Logger;
  /** The plugin's own options, validated and typed by its schema (`options: { mode: {...} }` → `ctx.options.mode`). */
  options: V;
  /** Where `/proc` is read from. @default '/proc' */
  procRoot: string;
  /** Where `/sys` is read from. @default '/sys' */
  sysRoot: string;
  /** Aborted when the plugin stops. */
  signal: AbortSignal;
  /**
   * A resource shared with the other plugins of this process under `key` (made by `create` when nobody holds it
   * yet), reference-counted; this instance's hold is released when it closes or its `create` fails.
   */
  shared: AcquireShared;
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
  /**
   * True for a warm-up collection whose report is dropped (a rate-based plugin waking from the idle rule):
   * move rate baselines to now, record no history (its rates would span the whole pause).
   */
  warmup?: boolean;
}

/**
 * What `collect` returns to say that the report it would build now is the one it built last time, apart
 * from the collection time: core then serves the previous report again, every timestamp that was that
 * collection's `now` set to this one's, without building, guarding or serializing it again. For a plugin
 * whose source rarely changes (namespaces, volumes), this makes an unchanged second cost almost nothing.
 * Only valid after a report of the same instance was published (otherwise the collection counts as
 * missed); a value equal to the old `now.toISOString()` is re-stamped too, as the collection time it was.
 * A metric whose samples are not just "now" (a window of history) must not be declared unchanged.
 * `Symbol.for`, so copies of core from different package versions agree on it.
 */
export const UNCHANGED: unique symbol = Symbol.for('scope-plugins.collect.unchanged') as typeof UNCHANGED;

/** What `collect` may return: nothing (the report was filled in) or {@link UNCHANGED}. */
export type CollectResult = void | typeof UNCHANGED;

/** A control handler's answer: a value for the UI, or an error saying what went wrong. */
export type ControlOutcome = { value?: unknown } | { error: string };

/** A plugin instance: state lives in the closure `create` returns. */
export interface PluginInstance {
  /**
   * Fills `ctx.report`, or returns {@link UNCHANGED} when nothing changed since its last report. Runs on the
   * plugin's own schedule, never on the request path.
   */
  collect(ctx: CollectContext): CollectResult | Promise<CollectResult>;
  /** Handles a control already checked by core (known control, known node, active there). */
  control?(request: ControlRequest, ctx: { hostId: string }): ControlOutcome | void | Promise<ControlOutcome | void>;
  /** Releases what `create` acquired (child processes, streams); holds from `ctx.shared` are released by core. */
  close?(): void | Promise<void>;
  /**
   * Resolves when the instance has its first data from a slow source (e.g. Docker's first container list).
   * Only `--once`, which prints a single report, waits for it (bounded); a served socket never does.
   */
  ready?(): Promise<void>;
}

/** A whole plugin, as one readable definition. */
export interface PluginDefinition<O extends OptionSchema = OptionSchema> {
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
  /**
   * The plugin's own options by camelCase name; each becomes a flag (`--max-rows` in the plugin's bin,
   * `--<id>.max-rows` in the suite) and an environment variable (`SCOPE_<ID>_MAX_ROWS`).
   */
  options?: O;
  /** Prometheus families the collection writes to `ctx.metrics`, each with its series bound. @default [] */
  metrics?: readonly MetricFamily[];
  /** Creates the instance: open clients, spawn helpers, set up state. Options arrive validated and typed. */
  create(ctx: PluginContext<OptionValues<O>>): PluginInstance | Promise<PluginInstance>;
}

/** Validated definition with defaults applied. */
export type ResolvedPluginDefinition<O extends OptionSchema = OptionSchema> = PluginDefinition<O> &
  Required<Pick<PluginDefinition<O>, 'intervalMs' | 'timeoutMs' | 'staleAfterMisses' | 'onceCollects' | 'topologies' | 'options'>> & {
    /** Every control id the plugin declares. */
    controlIds: string[];
  };


/** Validates a plugin definition and fills in defaults. Throws a TypeError naming the bad value. */
export function definePlugin<const O extends OptionSchema = {}>(definition: PluginDefinition<O>): ResolvedPluginDefinition<O> {
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
  const options = validateOptionSchema(definition.id, definition.options) as O;
  return { ...definition, intervalMs, timeoutMs, staleAfterMisses, onceCollects, topologies, options, controlIds };
}
