/**
 * The iowait plugin's Prometheus families, written from the same sample the Scope report is built from.
 * Bounds: cpu ratios and PSI are host-wide (1 and 6 series); disks are the devices of the report's table, at most
 * {@link MAX_DISK_SERIES} (the busiest by utilisation; the count left out is in `scope_iowait_disks_omitted`).
 */
import { defineMetricFamily, splitTopN, type MetricsSink } from '@scope-plugins/core';
import type { HostSample } from './collect.js';

/** Most block devices with their own series. */
export const MAX_DISK_SERIES = 64;

/** The families, by what they measure. */
export const IOWAIT_METRICS = {
  iowaitRatio: defineMetricFamily({
    name: 'scope_iowait_cpu_iowait_ratio',
    help: 'Share of CPU time spent idle with I/O outstanding (iowait) over the last collection interval, 0-1, from /proc/stat',
    kind: 'gauge',
    labelNames: [],
    maxSeries: 1,
  }),
  idleRatio: defineMetricFamily({
    name: 'scope_iowait_cpu_idle_ratio',
    help: 'Share of CPU time spent idle (iowait excluded) over the last collection interval, 0-1, from /proc/stat',
    kind: 'gauge',
    labelNames: [],
    maxSeries: 1,
  }),
  pressureRatio: defineMetricFamily({
    name: 'scope_iowait_pressure_ratio',
    help: 'I/O pressure (PSI) running average as a 0-1 share of time: kind="some" (at least one task stalled on I/O) or "full" (all non-idle tasks stalled), window 10s, 60s or 300s',
    kind: 'gauge',
    labelNames: ['kind', 'window'],
    maxSeries: 6,
  }),
  pressureStalled: defineMetricFamily({
    name: 'scope_iowait_pressure_stalled_seconds_total',
    help: 'Total time tasks were stalled on I/O (PSI total), kind="some" or "full"',
    kind: 'counter',
    labelNames: ['kind'],
    maxSeries: 2,
  }),
  diskReads: defineMetricFamily({
    name: 'scope_iowait_disk_reads_per_second',
    help: 'Reads completed per second on the block device over the last collection interval, from /proc/diskstats',
    kind: 'gauge',
    labelNames: ['device'],
    maxSeries: MAX_DISK_SERIES,
  }),
  diskWrites: defineMetricFamily({
    name: 'scope_iowait_disk_writes_per_second',
    help: 'Writes completed per second on the block device over the last collection interval, from /proc/diskstats',
    kind: 'gauge',
    labelNames: ['device'],
    maxSeries: MAX_DISK_SERIES,
  }),
  diskUtilization: defineMetricFamily({
    name: 'scope_iowait_disk_utilization_ratio',
    help: "Share of the last collection interval the block device had I/O in flight (iostat's %util / 100), 0-1",
    kind: 'gauge',
    labelNames: ['device'],
    maxSeries: MAX_DISK_SERIES,
  }),
  diskAwait: defineMetricFamily({
    name: 'scope_iowait_disk_await_seconds',
    help: "Mean time a read, write or discard completed in the last collection interval took, queueing included (iostat's await); 0 without I/O",
    kind: 'gauge',
    labelNames: ['device'],
    maxSeries: MAX_DISK_SERIES,
  }),
  disksOmitted: defineMetricFamily({
    name: 'scope_iowait_disks_omitted',
    help: `Block devices of the table left out of the per-device series (more than ${MAX_DISK_SERIES}; the least utilised are left out)`,
    kind: 'gauge',
    labelNames: [],
    maxSeries: 1,
  }),
} as const;

/** Every family, for the definition's `metrics`. */
export const IOWAIT_METRIC_FAMILIES = Object.values(IOWAIT_METRICS);

const WINDOWS = [
  ['avg10', '10s'],
  ['avg60', '60s'],
  ['avg300', '300s'],
] as const;

/** Writes one sample's series; a part the sample lacks (no PSI, first read) is left out, as in the report. */
export function recordIowaitMetrics(sink: MetricsSink | undefined, sample: HostSample): void {
  if (!sink) return;
  const m = IOWAIT_METRICS;
  if (sample.cpu) {
    sink.set(m.iowaitRatio, {}, sample.cpu.percent.iowait / 100);
    sink.set(m.idleRatio, {}, sample.cpu.percent.idle / 100);
  }
  if (sample.psi) {
    for (const [kind, line] of [['some', sample.psi.some] as const, ['full', sample.psi.full] as const]) {
      if (!line) continue;
      for (const [field, window] of WINDOWS) sink.set(m.pressureRatio, { kind, window }, line[field] / 100);
      sink.set(m.pressureStalled, { kind }, line.totalUs / 1e6);
    }
  }
  if (sample.disks) {
    const { kept, rest } = splitTopN(sample.disks, MAX_DISK_SERIES, (d) => d.utilPercent, (d) => d.name);
    for (const disk of kept) {
      const labels = { device: disk.name };
      sink.set(m.diskReads, labels, disk.readsPerSec);
      sink.set(m.diskWrites, labels, disk.writesPerSec);
      sink.set(m.diskUtilization, labels, disk.utilPercent / 100);
      sink.set(m.diskAwait, labels, disk.avgWaitMs / 1000);
    }
    sink.set(m.disksOmitted, {}, rest.length);
  }
}
