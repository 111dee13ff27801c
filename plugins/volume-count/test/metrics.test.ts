import { describe, expect, it } from 'vitest';
import { createMetricsBatch } from '@scope-plugins/core';
import { MAX_CONTAINER_SERIES, VOLUME_COUNT_METRIC_FAMILIES, recordVolumeCountMetrics, type VolumeCountSource } from '../src/index.js';

function container(i: number, mounts: number) {
  const id = i.toString(16).padStart(64, '0');
  const Mounts = Array.from({ length: mounts }, (_, m) => ({ Type: m % 2 === 0 ? 'volume' : 'bind', Destination: `/m${m}`, Name: `v${m}`, Source: `/s${m}` }));
  return { id, name: `c${i}`, state: 'running', running: true, pid: 0, inspect: { Mounts, HostConfig: { Tmpfs: { '/t': 'rw' } } } };
}

function record(containers: ReturnType<typeof container>[]) {
  const source = { containers: () => new Map(containers.map((c) => [c.id, c])) } as unknown as VolumeCountSource;
  const batch = createMetricsBatch(VOLUME_COUNT_METRIC_FAMILIES);
  recordVolumeCountMetrics(batch.sink, source);
  expect(Object.fromEntries(batch.dropped())).toEqual({});
  return batch.snapshot().series;
}

describe('volume-count metrics', () => {
  it('mounts per container by type, labelled with the full id and the name', () => {
    const series = record([container(1, 3)]);
    expect([...series.get('scope_volume_count_mounts')!.values()].map((s) => [s.labelValues[1], s.labelValues[2], s.value])).toEqual([
      ['c1', 'volume', 2],
      ['c1', 'bind', 1],
      ['c1', 'tmpfs', 1],
      ['c1', 'other', 0],
    ]);
    expect([...series.get('scope_volume_count_mounts')!.values()][0]!.labelValues[0]).toMatch(/^[0-9a-f]{64}$/);
    expect([...series.get('scope_volume_count_containers')!.values()][0]!.value).toBe(1);
  });

  it(`keeps the ${MAX_CONTAINER_SERIES} containers with the most mounts and sums the rest into container_id="other"`, () => {
    const containers = Array.from({ length: MAX_CONTAINER_SERIES + 5 }, (_, i) => container(i + 1, i < 5 ? 0 : 2));
    const series = [...record(containers).get('scope_volume_count_mounts')!.values()];
    const ids = new Set(series.map((s) => s.labelValues[0]));
    expect(ids.size).toBe(MAX_CONTAINER_SERIES + 1);
    // The five without mounts are the ones folded: their tmpfs mounts add up in "other".
    expect(series.filter((s) => s.labelValues[0] === 'other').map((s) => [s.labelValues[2], s.value])).toEqual([
      ['volume', 0],
      ['bind', 0],
      ['tmpfs', 5],
      ['other', 0],
    ]);
  });
});
