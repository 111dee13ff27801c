import { containerNodeId, type ReportBuilder } from '@scope-plugins/core';
import type { ContainerRecord } from '@scope-plugins/docker';
import { buildMountRows, countMounts, parseContainerMounts } from './parse.js';

/** Latest key of the "# Volumes" count: the original plugin's key, kept so existing users recognise it. */
export const VOLUME_COUNT_KEY = 'volume_count';
/** Latest keys of the per-type counts. */
export const COUNT_KEYS = { volume: 'volume_count_volumes', bind: 'volume_count_binds', tmpfs: 'volume_count_tmpfs' } as const;
/** Prefix of the mounts table; no other key of the plugin starts with it. */
export const MOUNTS_TABLE_PREFIX = 'volume_count_mount_';

/** Where the collector gets containers from: the shared Docker inventory (or anything with the same view). */
export interface VolumeCountSource {
  containers(): ReadonlyMap<string, ContainerRecord>;
}

/**
 * Adds one Container node per known container (running or stopped, see README): the total count, the counts
 * per type and the mounts table. A source that cannot reach Docker holds no containers, so none are served.
 */
export function collectVolumeCounts(report: ReportBuilder, source: VolumeCountSource): void {
  const topology = report.topology('Container');
  for (const record of source.containers().values()) {
    const mounts = parseContainerMounts(record.inspect);
    const counts = countMounts(mounts);
    topology
      .node(containerNodeId(record.id))
      .latest(VOLUME_COUNT_KEY, counts.total)
      .latest(COUNT_KEYS.volume, counts.volume)
      .latest(COUNT_KEYS.bind, counts.bind)
      .latest(COUNT_KEYS.tmpfs, counts.tmpfs)
      .table(MOUNTS_TABLE_PREFIX, buildMountRows(mounts));
  }
}
