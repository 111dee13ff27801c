import { definePlugin, parsePositiveInt } from '@scope-plugins/core';
import { createDockerInventory, dockerHostOption } from '@scope-plugins/docker';
import { COUNT_KEYS, MOUNTS_TABLE_PREFIX, VOLUME_COUNT_KEY, collectVolumeCounts } from './collect.js';
import { VOLUME_COUNT_METRIC_FAMILIES, recordVolumeCountMetrics } from './metrics.js';

export { COUNT_KEYS, MOUNTS_TABLE_PREFIX, VOLUME_COUNT_KEY, collectVolumeCounts, type VolumeCountSource } from './collect.js';
export { MAX_CONTAINER_SERIES, MOUNT_TYPES, VOLUME_COUNT_METRICS, VOLUME_COUNT_METRIC_FAMILIES, recordVolumeCountMetrics } from './metrics.js';
export { buildMountRows, countMounts, parseContainerMounts, type ContainerMount, type MountCounts } from './parse.js';

/** How long start-up waits for the first Docker sync before serving anyway. */
const FIRST_SYNC_WAIT_MS = 5000;

/** The volume-count plugin: mounts per Docker container, followed live from the Docker API. */
export const plugin = definePlugin({
  id: 'volume-count',
  label: 'Volume Counts',
  description: 'Mounts per Docker container: total, per type (volume, bind, tmpfs) and a table of mounts',
  intervalMs: 1000,
  metrics: VOLUME_COUNT_METRIC_FAMILIES,
  topologies: {
    Container: {
      metadataTemplates: [
        { id: VOLUME_COUNT_KEY, label: '# Volumes', dataType: 'number', priority: 0.1, from: 'latest' },
        { id: COUNT_KEYS.volume, label: '# Docker volumes', dataType: 'number', priority: 0.11, from: 'latest' },
        { id: COUNT_KEYS.bind, label: '# Bind mounts', dataType: 'number', priority: 0.12, from: 'latest' },
        { id: COUNT_KEYS.tmpfs, label: '# tmpfs mounts', dataType: 'number', priority: 0.13, from: 'latest' },
      ],
      tableTemplates: [
        {
          id: 'volume-count-mounts',
          label: 'Mounts',
          prefix: MOUNTS_TABLE_PREFIX,
          type: 'multicolumn-table',
          columns: [
            { id: 'type', label: 'Type' },
            { id: 'source', label: 'Volume / source' },
            { id: 'destination', label: 'Destination' },
            { id: 'read_only', label: 'Read-only' },
            { id: 'details', label: 'Driver / propagation / options' },
          ],
        },
      ],
    },
  },
  options: [
    dockerHostOption,
    {
      flags: '--docker-resync-ms <ms>',
      description: 'full container list + inspect this often, as a safety net behind the Docker event stream',
      default: 30_000,
      parse: parsePositiveInt('--docker-resync-ms'),
    },
  ],
  async create(ctx) {
    const inventory = createDockerInventory({
      dockerHost: ctx.options['dockerHost'] as string | undefined,
      resyncMs: ctx.options['dockerResyncMs'] as number | undefined,
      log: ctx.log,
      signal: ctx.signal,
    });
    // The first report (and `--once`) should already list the containers; a hung Docker must not block start-up.
    await Promise.race([inventory.ready(), new Promise((resolve) => setTimeout(resolve, FIRST_SYNC_WAIT_MS).unref())]);
    return {
      collect({ report, metrics }) {
        collectVolumeCounts(report, inventory);
        recordVolumeCountMetrics(metrics, inventory);
      },
      close: () => inventory.close(),
    };
  },
});
