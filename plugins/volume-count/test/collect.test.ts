import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { createReport } from '@scope-plugins/core';
import { buildContainerRecord, type ContainerRecord } from '@scope-plugins/docker';
import type Docker from 'dockerode';
import { collectVolumeCounts } from '../src/collect.js';

function record(name: string): ContainerRecord {
  const inspect = (JSON.parse(readFileSync(new URL(`./fixtures/${name}`, import.meta.url), 'utf8')) as Docker.ContainerInspectInfo[])[0]!;
  return buildContainerRecord(inspect)!;
}

describe('collectVolumeCounts', () => {
  it('adds one Container node per container with the counts and the mounts table cells', () => {
    const all = record('docker-20.10.24-inspect-all-mount-kinds.json');
    const none = record('docker-20.10.24-inspect-no-mounts.json');
    const report = createReport(new Date('2026-11-22T03:00:00.000Z'));
    collectVolumeCounts(report, { containers: () => new Map([[all.id, all], [none.id, none]]) });
    const nodes = report.build().Container?.nodes ?? {};
    expect(Object.keys(nodes).sort()).toEqual([`${all.id};<container>`, `${none.id};<container>`].sort());
    const values = (id: string) => Object.fromEntries(Object.entries(nodes[`${id};<container>`]?.latest ?? {}).map(([k, v]) => [k, v.value]));
    expect(values(none.id)).toEqual({ volume_count: '0', volume_count_volumes: '0', volume_count_binds: '0', volume_count_tmpfs: '0' });
    const cells = values(all.id);
    expect(Object.keys(cells).filter((k) => k.startsWith('volume_count_mount_'))).toHaveLength(6 * 5);
    expect(cells).toMatchObject({
      volume_count: '6',
      volume_count_volumes: '3',
      volume_count_binds: '1',
      volume_count_tmpfs: '2',
      'volume_count_mount_005___destination': '/scratch',
      'volume_count_mount_005___details': 'size=1m,mode=1777',
      'volume_count_mount_001___read_only': 'yes',
    });
    expect(nodes[`${all.id};<container>`]?.latest?.['volume_count']?.timestamp).toBe('2026-11-22T03:00:00.000Z');
  });

  it('adds no node when the source holds no containers (Docker unreachable)', () => {
    const report = createReport();
    collectVolumeCounts(report, { containers: () => new Map() });
    expect(report.build().Container?.nodes).toBeUndefined();
  });
});
