/**
 * The volume-count plugin's Prometheus families, from the same container list the report is built from.
 * Bound: the {@link MAX_CONTAINER_SERIES} containers with the most mounts get their own series (4 types each);
 * the rest are summed into one `container_id="other"` series per type. A removed container's series go away.
 */
import { OTHER, defineMetricFamily, splitTopN, type MetricsSink } from '@scope-plugins/core';
import { isCriContainerRecord, type RuntimeContainerRecord } from '@scope-plugins/cri';
import type { VolumeCountSource } from './collect.js';
import { countKubernetesMounts, parseKubernetesMounts } from './kubernetes.js';
import { countMounts, parseContainerMounts, type MountCounts } from './parse.js';

/** Most containers with their own series. */
export const MAX_CONTAINER_SERIES = 200;

/** Mount types with their own series; anything else Docker reports (npipe, cluster) is `other`. */
export const MOUNT_TYPES = ['volume', 'bind', 'tmpfs', OTHER] as const;

/** The families. */
export const VOLUME_COUNT_METRICS = {
  mounts: defineMetricFamily({
    name: 'scope_volume_count_mounts',
    help: `Mounts of the container by type (volume, bind, tmpfs, other); beyond the ${MAX_CONTAINER_SERIES} containers with the most mounts, containers are summed into container_id="other"`,
    kind: 'gauge',
    labelNames: ['container_id', 'container_name', 'type'],
    maxSeries: (MAX_CONTAINER_SERIES + 1) * MOUNT_TYPES.length,
  }),
  containers: defineMetricFamily({
    name: 'scope_volume_count_containers',
    help: 'Containers known to the plugin (running or stopped), as listed in the Scope report',
    kind: 'gauge',
    labelNames: [],
    maxSeries: 1,
  }),
} as const;

/** Every family, for the definition's `metrics`. */
export const VOLUME_COUNT_METRIC_FAMILIES = Object.values(VOLUME_COUNT_METRICS);

function byType(counts: MountCounts): Record<(typeof MOUNT_TYPES)[number], number> {
  return { volume: counts.volume, bind: counts.bind, tmpfs: counts.tmpfs, other: counts.total - counts.volume - counts.bind - counts.tmpfs };
}

/**
 * Counts in the families' four types. A CRI container's kubelet-managed volumes (configMap, secret, emptyDir,
 * projected, CSI, token, …) count as `volume` and its hostPath volumes as `bind`, what they are to the runtime.
 */
function countRecord(record: RuntimeContainerRecord): MountCounts {
  if (!isCriContainerRecord(record)) return countMounts(parseContainerMounts(record.inspect));
  const k8s = countKubernetesMounts(parseKubernetesMounts(record.mounts));
  return { total: k8s.total, volume: k8s.total - k8s['host-path'], bind: k8s['host-path'], tmpfs: 0 };
}

// Records are replaced, never changed, when the runtime reports a change (see collect.ts): count each once.
const countsByRecord = new WeakMap<RuntimeContainerRecord, MountCounts>();

function countsOf(record: RuntimeContainerRecord): MountCounts {
  let counts = countsByRecord.get(record);
  if (!counts) {
    counts = countRecord(record);
    countsByRecord.set(record, counts);
  }
  return counts;
}

/** Writes the series of every container the source knows. */
export function recordVolumeCountMetrics(sink: MetricsSink | undefined, source: VolumeCountSource): void {
  if (!sink) return;
  const containers = [...source.containers().values()].map((record) => ({ record, counts: countsOf(record) }));
  sink.set(VOLUME_COUNT_METRICS.containers, {}, containers.length);
  const { kept, rest } = splitTopN(containers, MAX_CONTAINER_SERIES, (c) => c.counts.total, (c) => c.record.id);
  for (const { record, counts } of kept) {
    for (const [type, value] of Object.entries(byType(counts))) {
      sink.set(VOLUME_COUNT_METRICS.mounts, { container_id: record.id, container_name: record.name, type }, value);
    }
  }
  if (rest.length === 0) return;
  const folded = { volume: 0, bind: 0, tmpfs: 0, other: 0 };
  for (const { counts } of rest) for (const [type, value] of Object.entries(byType(counts))) folded[type as keyof typeof folded] += value;
  for (const [type, value] of Object.entries(folded)) sink.set(VOLUME_COUNT_METRICS.mounts, { container_id: OTHER, container_name: OTHER, type }, value);
}
