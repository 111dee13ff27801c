import type { Metric, Sample } from './types.js';

/** Options of {@link createMetricWindow}. */
export interface MetricWindowOptions {
  /** How much history the metric keeps. @default 60_000 */
  windowMs?: number;
  /** Lower graph bound. @default 0 */
  min?: number;
  /** Upper graph bound. @default 100 */
  max?: number;
}

/** A sliding window of samples for one metric. */
export interface MetricWindow {
  /** Adds a sample (non-finite values are ignored: Scope would show them as 0). */
  push(value: number, at: Date): void;
  /** Drops every sample. */
  clear(): void;
  /** The samples still inside the window at `now`, oldest first. */
  samples(now: Date): Sample[];
  /** The metric as Scope wants it, or undefined when there is no sample yet. */
  toMetric(now: Date): Metric | undefined;
}

/** Creates a {@link MetricWindow}. */
export function createMetricWindow(options: MetricWindowOptions = {}): MetricWindow {
  const windowMs = options.windowMs ?? 60_000;
  if (!Number.isFinite(windowMs) || windowMs <= 0) throw new TypeError(`windowMs must be a positive number, got ${windowMs}`);
  const min = options.min ?? 0;
  const max = options.max ?? 100;
  let entries: Array<{ at: number; value: number }> = [];

  const trim = (nowMs: number) => {
    const oldest = nowMs - windowMs;
    if (entries.length > 0 && entries[0]!.at < oldest) entries = entries.filter((e) => e.at >= oldest);
  };

  return {
    push(value, at) {
      if (!Number.isFinite(value)) return;
      const atMs = at.getTime();
      // Scope de-duplicates equal dates; keep the newest value for a date.
      if (entries.length > 0 && entries[entries.length - 1]!.at === atMs) entries.pop();
      entries.push({ at: atMs, value });
      trim(atMs);
    },
    clear() {
      entries = [];
    },
    samples(now) {
      trim(now.getTime());
      return entries.map((e) => ({ date: new Date(e.at).toISOString(), value: e.value }));
    },
    toMetric(now) {
      const samples = this.samples(now);
      return samples.length === 0 ? undefined : { samples, min, max };
    },
  };
}
