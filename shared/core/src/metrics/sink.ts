import type { MetricFamily } from './family.js';

/** Label values of one series, by label name. */
export type MetricLabels<L extends string = string> = Readonly<Record<L, string>>;

/** A histogram's state: observations per bucket (not cumulative), the last entry being above every bound. */
export interface HistogramValue {
  /** `buckets.length + 1` counts: `counts[i]` observations fell in `(buckets[i-1], buckets[i]]`, the last in `(max, +Inf)`. */
  counts: readonly number[];
  /** Sum of all observations, in the family's unit. */
  sum: number;
}

/** One series as recorded: its label values (in the family's label order) and value. */
export interface RecordedSeries {
  labelValues: readonly string[];
  value: number | HistogramValue;
}

/** What one successful collection recorded: series by family name, then by label values. */
export interface MetricsSnapshot {
  series: ReadonlyMap<string, ReadonlyMap<string, RecordedSeries>>;
}

/**
 * Where a plugin writes the metrics of one collection (`ctx.metrics`). Every call replaces the series with the
 * same labels; a series not written in a collection is gone from the next scrape (vanished processes and
 * containers disappear with it). Bad input never throws into the collection: it is dropped and counted.
 */
export interface MetricsSink {
  /** Sets a gauge, or a counter's running total (which must only grow while the series exists). */
  set<L extends string>(family: MetricFamily<L>, labels: MetricLabels<L>, value: number): void;
  /** Sets a histogram's bucket counts and sum (running totals, like a counter). */
  setHistogram<L extends string>(family: MetricFamily<L>, labels: MetricLabels<L>, value: HistogramValue): void;
}

/** Why a sample was refused. */
export type DropReason = 'undeclared' | 'labels' | 'value' | 'max-series';

/** A sink for one collection plus what it recorded; the runtime publishes `snapshot()` only if the collection succeeds. */
export interface MetricsBatch {
  readonly sink: MetricsSink;
  snapshot(): MetricsSnapshot;
  /** Samples refused, by reason (a plugin bug or a cardinality overflow). */
  dropped(): ReadonlyMap<DropReason, number>;
}

/** Creates an empty batch accepting only `families`. */
export function createMetricsBatch(families: readonly MetricFamily[]): MetricsBatch {
  const declared = new Map(families.map((family) => [family.name, family]));
  const series = new Map<string, Map<string, RecordedSeries>>();
  const dropped = new Map<DropReason, number>();
  const drop = (reason: DropReason) => dropped.set(reason, (dropped.get(reason) ?? 0) + 1);

  const record = (family: MetricFamily, labels: Record<string, string>, value: number | HistogramValue) => {
    if (declared.get(family.name) !== family) return drop('undeclared');
    const keys = Object.keys(labels);
    if (keys.length !== family.labelNames.length || family.labelNames.some((name) => typeof labels[name] !== 'string')) return drop('labels');
    const labelValues = family.labelNames.map((name) => labels[name]!);
    let forFamily = series.get(family.name);
    if (!forFamily) series.set(family.name, (forFamily = new Map()));
    // NUL cannot appear in label values read from /proc or Docker names, so the join is unambiguous.
    const key = labelValues.join('\u0000');
    if (!forFamily.has(key) && forFamily.size >= family.maxSeries) return drop('max-series');
    forFamily.set(key, { labelValues, value });
  };

  const sink: MetricsSink = {
    set(family, labels, value) {
      if (family.kind === 'histogram' || !Number.isFinite(value) || (family.kind === 'counter' && value < 0)) return drop('value');
      record(family, labels, value);
    },
    setHistogram(family, labels, value) {
      const buckets = family.buckets ?? [];
      const valid =
        family.kind === 'histogram' && value.counts.length === buckets.length + 1 && value.counts.every((c) => Number.isFinite(c) && c >= 0) && Number.isFinite(value.sum);
      if (!valid) return drop('value');
      record(family, labels, { counts: [...value.counts], sum: value.sum });
    },
  };
  return { sink, snapshot: () => ({ series }), dropped: () => dropped };
}
