/** What kind of Prometheus metric a family is. */
export type MetricKind = 'gauge' | 'counter' | 'histogram';

/** One metric family a plugin exports: its name, HELP text, labels and cardinality bound. */
export interface MetricFamily<L extends string = string> {
  /** Full Prometheus name in base units (`_seconds`, `_bytes`, `_ratio`); counters end in `_total`. */
  name: string;
  /** The HELP line: what one sample means, including its unit. */
  help: string;
  kind: MetricKind;
  /** Label names, in the order samples carry them. */
  labelNames: readonly L[];
  /**
   * Most series (label combinations) the family may hold in one collection. The plugin folds its data to stay
   * under it (top N plus an `other` series); the sink drops anything beyond it and counts the drop.
   */
  maxSeries: number;
  /** Histogram bucket upper bounds (`le`), ascending, in the family's base unit; `+Inf` is implied. */
  buckets?: readonly number[];
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
// Suffixes the exposition formats add themselves; a family named with one would collide with them.
const RESERVED_SUFFIXES = ['_bucket', '_count', '_sum', '_created', '_info'];

/** Validates a metric family declaration (names, labels, bound, buckets); throws a TypeError naming the bad value. */
export function defineMetricFamily<L extends string>(family: MetricFamily<L>): MetricFamily<L> {
  const { name, help, kind, labelNames, maxSeries, buckets } = family;
  if (typeof name !== 'string' || !NAME.test(name) || name.startsWith('__')) throw new TypeError(`metric name must match ${NAME}, got ${JSON.stringify(name)}`);
  if (typeof help !== 'string' || help.trim() === '') throw new TypeError(`metric ${name}: help must be a non-empty string`);
  if (kind !== 'gauge' && kind !== 'counter' && kind !== 'histogram') throw new TypeError(`metric ${name}: kind must be gauge, counter or histogram, got ${JSON.stringify(kind)}`);
  if (kind === 'counter' && !name.endsWith('_total')) throw new TypeError(`metric ${name}: a counter's name must end in _total`);
  if (kind !== 'counter' && name.endsWith('_total')) throw new TypeError(`metric ${name}: only counters end in _total`);
  const reserved = RESERVED_SUFFIXES.find((suffix) => name.endsWith(suffix));
  if (reserved) throw new TypeError(`metric ${name}: names ending in ${reserved} collide with the exposition format's own series`);
  const seen = new Set<string>();
  for (const label of labelNames) {
    if (!LABEL.test(label) || label.startsWith('__')) throw new TypeError(`metric ${name}: label name must match ${LABEL}, got ${JSON.stringify(label)}`);
    if (label === 'le' || label === 'quantile') throw new TypeError(`metric ${name}: label ${label} is reserved by the exposition format`);
    if (seen.has(label)) throw new TypeError(`metric ${name}: label ${label} appears twice`);
    seen.add(label);
  }
  if (!Number.isSafeInteger(maxSeries) || maxSeries <= 0) throw new TypeError(`metric ${name}: maxSeries must be a positive integer, got ${JSON.stringify(maxSeries)}`);
  if (kind === 'histogram') {
    if (!buckets || buckets.length === 0) throw new TypeError(`metric ${name}: a histogram needs buckets`);
    for (let i = 0; i < buckets.length; i++) {
      const bound = buckets[i]!;
      if (!Number.isFinite(bound) || (i > 0 && bound <= buckets[i - 1]!)) throw new TypeError(`metric ${name}: buckets must be finite and strictly ascending, got ${JSON.stringify(buckets)}`);
    }
  } else if (buckets !== undefined) {
    throw new TypeError(`metric ${name}: only histograms have buckets`);
  }
  return family;
}

/** Throws a TypeError when two families share a name (a registry must reject duplicates). */
export function validateMetricFamilies(owner: string, families: readonly MetricFamily[]): readonly MetricFamily[] {
  const names = new Set<string>();
  for (const family of families) {
    defineMetricFamily(family);
    if (names.has(family.name)) throw new TypeError(`${owner}: metric ${family.name} is declared twice`);
    names.add(family.name);
  }
  return families;
}
