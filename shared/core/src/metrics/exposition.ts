import type { RegistryContentType } from 'prom-client';
import type { MetricFamily } from './family.js';
import type { HistogramValue, RecordedSeries } from './sink.js';

/** The two page formats `GET /metrics` can answer with. */
export type ExpositionFormat = 'prometheus' | 'openmetrics';

/** Renders every registered family's current series in either format. */
export interface Exposition {
  render(format: ExpositionFormat): Promise<{ contentType: string; body: string }>;
}

/** Where the exposition reads a family's series at scrape time. */
export type SeriesReader = (family: MetricFamily) => Iterable<RecordedSeries>;

interface SampleValue {
  value: number;
  labels: Record<string, string>;
  metricName?: string;
}

function labelsOf(family: MetricFamily, series: RecordedSeries): Record<string, string> {
  const labels: Record<string, string> = {};
  family.labelNames.forEach((name, i) => {
    labels[name] = series.labelValues[i] ?? '';
  });
  return labels;
}

function histogramSamples(family: MetricFamily, labels: Record<string, string>, value: HistogramValue): SampleValue[] {
  const bounds = family.buckets ?? [];
  const out: SampleValue[] = [];
  let cumulative = 0;
  for (let i = 0; i <= bounds.length; i++) {
    cumulative += value.counts[i] ?? 0;
    out.push({ metricName: `${family.name}_bucket`, labels: { ...labels, le: i < bounds.length ? String(bounds[i]) : '+Inf' }, value: cumulative });
  }
  out.push({ metricName: `${family.name}_sum`, labels, value: value.sum });
  out.push({ metricName: `${family.name}_count`, labels, value: cumulative });
  return out;
}

// One collator for every scrape: localeCompare with options builds a new one per call, which dominated rendering.
// Built on the first scrape, not at import: creating any collator maps ~2.7 MiB of ICU data into the process,
// which a suite with metrics off never needs.
let labelOrder: Intl.Collator | undefined;

/** The values of one family as prom-client's formatter expects them from a metric's `get()`. */
export function buildSamples(family: MetricFamily, series: Iterable<RecordedSeries>): SampleValue[] {
  const out: SampleValue[] = [];
  // Sorted by label values: the page is deterministic whatever order the plugin recorded in.
  const order = (labelOrder ??= new Intl.Collator('en', { numeric: true }));
  const sorted = [...series].sort((a, b) => {
    for (let i = 0; i < a.labelValues.length; i++) {
      const c = order.compare(a.labelValues[i] ?? '', b.labelValues[i] ?? '');
      if (c !== 0) return c;
    }
    return 0;
  });
  for (const s of sorted) {
    const labels = labelsOf(family, s);
    if (typeof s.value === 'number') out.push({ labels, value: s.value });
    else out.push(...histogramSamples(family, labels, s.value));
  }
  return out;
}

/**
 * Builds the exposition on prom-client's registries (one per format: prom-client renames counters in place for
 * OpenMetrics). prom-client is imported here, on first use, so a process without `--metrics-listen` never loads it.
 */
export async function createExposition(families: readonly MetricFamily[], read: SeriesReader): Promise<Exposition> {
  // The registry module alone (the package has no exports map to forbid it): prom-client's index also loads its
  // default process metrics, cluster support and the OpenTelemetry API, ~10 MiB this exposition never uses.
  const { default: Registry } = await import('prom-client/lib/registry.js');
  const makeRegistry = (contentType: RegistryContentType) => {
    const registry = new Registry<RegistryContentType>();
    registry.setContentType(contentType);
    for (const family of families) {
      // A collector-style metric: prom-client asks for the values at each scrape, so nothing is copied in between.
      const metric = {
        name: family.name,
        help: family.help,
        type: family.kind,
        aggregator: 'omit',
        collect: undefined,
        get: async () => ({ name: metric.name, help: family.help, type: family.kind, aggregator: 'omit', values: buildSamples(family, read(family)) }),
        reset: () => undefined,
      };
      // Registry rejects a duplicate name: two plugins declaring the same family fail at start, not at scrape.
      registry.registerMetric(metric as unknown as Parameters<typeof registry.registerMetric>[0]);
    }
    return registry;
  };
  const registries = {
    prometheus: makeRegistry(Registry.PROMETHEUS_CONTENT_TYPE),
    openmetrics: makeRegistry(Registry.OPENMETRICS_CONTENT_TYPE),
  };
  return {
    async render(format) {
      const registry = registries[format];
      return { contentType: registry.contentType, body: await registry.metrics() };
    },
  };
}
