import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { UNCHANGED, createReport } from '@scope-plugins/core';
import { buildContainerRecord, type ContainerRecord } from '@scope-plugins/docker';
import type Docker from 'dockerode';
import { collectVolumeCounts, createVolumeCountCollector } from '../src/collect.js';

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

  it('stamps every report with its own time, and follows a record replaced under the same id', () => {
    const all = record('docker-20.10.24-inspect-all-mount-kinds.json');
    const collect = (records: ContainerRecord[], at: string) => {
      const report = createReport(new Date(at));
      collectVolumeCounts(report, { containers: () => new Map(records.map((r) => [r.id, r])) });
      return report.build().Container?.nodes?.[`${all.id};<container>`]?.latest ?? {};
    };
    const first = collect([all], '2026-11-22T03:00:00.000Z');
    const second = collect([all], '2026-11-22T03:00:01.000Z');
    expect(Object.keys(second)).toEqual(Object.keys(first));
    for (const [key, entry] of Object.entries(second)) expect(entry, key).toEqual({ timestamp: '2026-11-22T03:00:01.000Z', value: first[key]!.value });
    // The inventory replaces a record on a change (here: the binds are gone); the node follows at once.
    const inspect = structuredClone(all.inspect);
    inspect.Mounts = inspect.Mounts.filter((m) => m.Type !== 'bind');
    const changed = collect([buildContainerRecord(inspect)!], '2026-11-22T03:00:02.000Z');
    expect([changed['volume_count']?.value, changed['volume_count_binds']?.value]).toEqual(['5', '0']);
    expect(Object.keys(changed).filter((k) => k.startsWith('volume_count_mount_'))).toHaveLength(5 * 5);
    expect(collect([all], '2026-11-22T03:00:03.000Z')['volume_count_binds']?.value).toBe('1');
  });

  it('adds no node when the source holds no containers (Docker unreachable)', () => {
    const report = createReport();
    collectVolumeCounts(report, { containers: () => new Map() });
    expect(report.build().Container?.nodes).toBeUndefined();
  });
});

describe('createVolumeCountCollector', () => {
  it('builds when the records differ from the last build (added, replaced, removed, reordered), and says UNCHANGED otherwise', () => {
    const all = record('docker-20.10.24-inspect-all-mount-kinds.json');
    const none = record('docker-20.10.24-inspect-no-mounts.json');
    let live = new Map([[all.id, all]]);
    const collector = createVolumeCountCollector({ containers: () => live });
    const step = () => {
      const report = createReport();
      const result = collector.collect(report);
      return { result, nodes: Object.keys(report.build().Container?.nodes ?? {}).length };
    };
    expect(step()).toEqual({ result: undefined, nodes: 1 });
    expect(step()).toEqual({ result: UNCHANGED, nodes: 0 });
    // Docker's inventory changes its map in place on events: a set, then a replaced record under the same id.
    live.set(none.id, none);
    expect(step()).toEqual({ result: undefined, nodes: 2 });
    expect(step()).toEqual({ result: UNCHANGED, nodes: 0 });
    live.set(all.id, buildContainerRecord(structuredClone(all.inspect))!);
    expect(step()).toEqual({ result: undefined, nodes: 2 });
    live = new Map([...live].reverse());
    expect(step()).toEqual({ result: undefined, nodes: 2 });
    live.delete(none.id);
    expect(step()).toEqual({ result: undefined, nodes: 1 });
    expect(step()).toEqual({ result: UNCHANGED, nodes: 0 });
    collector.forget();
    expect(step()).toEqual({ result: undefined, nodes: 1 });
    live = new Map();
    expect(step()).toEqual({ result: undefined, nodes: 0 });
    expect(step()).toEqual({ result: UNCHANGED, nodes: 0 });
  });

  it('builds on its first call even with no containers (core needs one report before UNCHANGED)', () => {
    expect(createVolumeCountCollector({ containers: () => new Map() }).collect(createReport())).toBeUndefined();
  });
});
