import { defineMetricFamily } from './family.js';

/**
 * Most plugins one process hosts; every health family has one series per plugin (errors: two per plugin), so
 * this bounds them all. The suite has four.
 */
export const MAX_PLUGINS = 32;

/** Collector health, one series per plugin, so an alert can fire when a plugin stops working. */
export const HEALTH_FAMILIES = {
  up: defineMetricFamily({
    name: 'scope_plugins_up',
    help: '1 while the plugin is created and its data is fresh (not stale), else 0',
    kind: 'gauge',
    labelNames: ['plugin'],
    maxSeries: MAX_PLUGINS,
  }),
  lastSuccess: defineMetricFamily({
    name: 'scope_plugins_last_success_timestamp_seconds',
    help: 'Unix time at which the last successful collection started (the time of the data now served)',
    kind: 'gauge',
    labelNames: ['plugin'],
    maxSeries: MAX_PLUGINS,
  }),
  collections: defineMetricFamily({
    name: 'scope_plugins_collections_total',
    help: 'Successful collections since the process started',
    kind: 'counter',
    labelNames: ['plugin'],
    maxSeries: MAX_PLUGINS,
  }),
  errors: defineMetricFamily({
    name: 'scope_plugins_errors_total',
    help: 'Failed plugin starts (stage="create") and failed or timed-out collections (stage="collect") since the process started',
    kind: 'counter',
    labelNames: ['plugin', 'stage'],
    maxSeries: MAX_PLUGINS * 2,
  }),
  consecutiveMisses: defineMetricFamily({
    name: 'scope_plugins_consecutive_misses',
    help: 'Collections missed in a row (failed, timed out or skipped); the data is marked stale in Scope at the plugin\'s threshold',
    kind: 'gauge',
    labelNames: ['plugin'],
    maxSeries: MAX_PLUGINS,
  }),
  duration: defineMetricFamily({
    name: 'scope_plugins_collection_duration_seconds',
    help: 'Wall time of the last successful collection',
    kind: 'gauge',
    labelNames: ['plugin'],
    maxSeries: MAX_PLUGINS,
  }),
  guardViolations: defineMetricFamily({
    name: 'scope_plugins_report_guard_violations_total',
    help: 'Report parts the report guard removed because they would break Scope',
    kind: 'counter',
    labelNames: ['plugin'],
    maxSeries: MAX_PLUGINS,
  }),
  dropped: defineMetricFamily({
    name: 'scope_plugins_metric_samples_dropped_total',
    help: 'Metric samples refused by the sink (over a family\'s series bound, undeclared, or a bad value); should stay 0',
    kind: 'counter',
    labelNames: ['plugin'],
    maxSeries: MAX_PLUGINS,
  }),
} as const;
