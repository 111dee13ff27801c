import { describe, expect, it } from 'vitest';
import { createMetricsBatch } from '@scope-plugins/core';
import { IOWAIT_METRIC_FAMILIES, MAX_DISK_SERIES, recordIowaitMetrics, type DiskRow, type HostSample } from '../src/index.js';
import { parsePsi } from '../src/parse.js';

function values(sample: HostSample): Record<string, Record<string, number>> {
  const batch = createMetricsBatch(IOWAIT_METRIC_FAMILIES);
  recordIowaitMetrics(batch.sink, sample);
  expect(Object.fromEntries(batch.dropped())).toEqual({});
  const out: Record<string, Record<string, number>> = {};
  for (const [family, series] of batch.snapshot().series) out[family] = Object.fromEntries([...series.values()].map((s) => [s.labelValues.join('|'), s.value as number]));
  return out;
}

const disk = (name: string, utilPercent: number): DiskRow => ({ name, readsPerSec: 10, writesPerSec: 5, utilPercent, avgWaitMs: 2.5 });

describe('iowait metrics', () => {
  it('ratios in 0-1, PSI averages and stall seconds, per-disk gauges in base units', () => {
    const psi = parsePsi('some avg10=1.50 avg60=0.75 avg300=0.25 total=3000000\nfull avg10=0.50 avg60=0.25 avg300=0.00 total=1000000\n');
    const cpu = { percent: { user: 0, nice: 0, system: 0, idle: 80, iowait: 12.5, irq: 0, softirq: 0, steal: 0, guest: 0, guestNice: 0 }, totalTicks: 100, clamped: [] };
    expect(values({ fresh: true, cpu, psi, disks: [disk('vda', 40)] })).toEqual({
      scope_iowait_cpu_iowait_ratio: { '': 0.125 },
      scope_iowait_cpu_idle_ratio: { '': 0.8 },
      scope_iowait_pressure_ratio: { 'some|10s': 0.015, 'some|60s': 0.0075, 'some|300s': 0.0025, 'full|10s': 0.005, 'full|60s': 0.0025, 'full|300s': 0 },
      scope_iowait_pressure_stalled_seconds_total: { some: 3, full: 1 },
      scope_iowait_disk_reads_per_second: { vda: 10 },
      scope_iowait_disk_writes_per_second: { vda: 5 },
      scope_iowait_disk_utilization_ratio: { vda: 0.4 },
      scope_iowait_disk_await_seconds: { vda: 0.0025 },
      scope_iowait_disks_omitted: { '': 0 },
    });
  });

  it('what the sample lacks (first read, no PSI) is left out, as in the report', () => {
    expect(values({ fresh: false })).toEqual({});
  });

  it(`keeps the ${MAX_DISK_SERIES} busiest devices and counts the rest`, () => {
    const disks = Array.from({ length: MAX_DISK_SERIES + 3 }, (_, i) => disk(`sd${i}`, i));
    const out = values({ fresh: true, disks });
    expect(Object.keys(out['scope_iowait_disk_utilization_ratio']!).length).toBe(MAX_DISK_SERIES);
    expect(out['scope_iowait_disk_utilization_ratio']!['sd0']).toBeUndefined();
    expect(out['scope_iowait_disk_utilization_ratio']![`sd${MAX_DISK_SERIES + 2}`]).toBeCloseTo((MAX_DISK_SERIES + 2) / 100);
    expect(out['scope_iowait_disks_omitted']).toEqual({ '': 3 });
  });
});
