import { UNCHANGED, containerNodeId, createReport, type CollectResult, type ReportBuilder } from '@scope-plugins/core';
import { isCriContainerRecord, type CriContainerRecord, type RuntimeContainerRecord } from '@scope-plugins/cri';
import { buildKubernetesMountRows, countKubernetesMounts, parseKubernetesMounts, type KubernetesMountCounts } from './kubernetes.js';
import { buildMountRows, countMounts, parseContainerMounts } from './parse.js';

/** Latest key of the "# Volumes" count: the original plugin's key, kept so existing users recognise it. */
export const VOLUME_COUNT_KEY = 'volume_count';
/** Latest keys of the per-type counts. */
export const COUNT_KEYS = { volume: 'volume_count_volumes', bind: 'volume_count_binds', tmpfs: 'volume_count_tmpfs' } as const;
/** Prefix of the mounts table; no other key of the plugin starts with it. */
export const MOUNTS_TABLE_PREFIX = 'volume_count_mount_';
/** Latest keys of CRI (Kubernetes) containers: the pod, and the volume counts per Kubernetes volume type. */
export const KUBERNETES_KEYS = {
  podName: 'volume_count_pod_name',
  podNamespace: 'volume_count_pod_namespace',
  configmap: 'volume_count_k8s_configmap',
  secret: 'volume_count_k8s_secret',
  'empty-dir': 'volume_count_k8s_empty_dir',
  projected: 'volume_count_k8s_projected',
  csi: 'volume_count_k8s_csi',
  'host-path': 'volume_count_k8s_host_path',
  'service-account-token': 'volume_count_k8s_service_account_token',
  other: 'volume_count_k8s_other',
} as const satisfies Record<Exclude<keyof KubernetesMountCounts, 'total'> | 'podName' | 'podNamespace', string>;

/** Where the collector gets containers from: the shared Docker or CRI inventory (or anything with the same view). */
export interface VolumeCountSource {
  containers(): ReadonlyMap<string, RuntimeContainerRecord>;
}

/** A CRI container's node: the pod, the volume count and the counts per Kubernetes volume type, the mounts table. */
function addKubernetesContainer(report: ReportBuilder, record: CriContainerRecord): void {
  const mounts = parseKubernetesMounts(record.mounts);
  const counts = countKubernetesMounts(mounts);
  const node = report.topology('Container').node(containerNodeId(record.id)).latest(VOLUME_COUNT_KEY, counts.total);
  if (record.pod.name !== '') node.latest(KUBERNETES_KEYS.podName, record.pod.name);
  if (record.pod.namespace !== '') node.latest(KUBERNETES_KEYS.podNamespace, record.pod.namespace);
  for (const type of ['configmap', 'secret', 'empty-dir', 'projected', 'csi', 'host-path', 'service-account-token', 'other'] as const) {
    node.latest(KUBERNETES_KEYS[type], counts[type]);
  }
  node.table(MOUNTS_TABLE_PREFIX, buildKubernetesMountRows(mounts));
}

/** Builds a container's node from its record: the one definition of what the node carries. */
function addContainer(report: ReportBuilder, record: RuntimeContainerRecord): void {
  if (isCriContainerRecord(record)) {
    addKubernetesContainer(report, record);
    return;
  }
  const mounts = parseContainerMounts(record.inspect);
  const counts = countMounts(mounts);
  report
    .topology('Container')
    .node(containerNodeId(record.id))
    .latest(VOLUME_COUNT_KEY, counts.total)
    .latest(COUNT_KEYS.volume, counts.volume)
    .latest(COUNT_KEYS.bind, counts.bind)
    .latest(COUNT_KEYS.tmpfs, counts.tmpfs)
    .table(MOUNTS_TABLE_PREFIX, buildMountRows(mounts));
}

/** A container's node as latest keys and values, in the order {@link addContainer} sets them. */
interface NodeEntries {
  nodeId: string;
  entries: ReadonlyArray<readonly [key: string, value: string]>;
}

/**
 * Node entries by record. The inventories replace a record when the runtime reports a change (an event, a
 * resync that found a new state) and never change one in place, so what a record yields is worked out once
 * and reused every second until its record goes away (a WeakMap: nothing to prune).
 */
const entriesByRecord = new WeakMap<RuntimeContainerRecord, NodeEntries>();

function entriesOf(record: RuntimeContainerRecord): NodeEntries {
  let cached = entriesByRecord.get(record);
  if (!cached) {
    // Built once through the same builder calls, so the cached node cannot drift from the uncached one.
    const scratch = createReport(new Date(0));
    addContainer(scratch, record);
    const nodeId = containerNodeId(record.id);
    const latest = scratch.build().Container?.nodes?.[nodeId]?.latest ?? {};
    cached = { nodeId, entries: Object.entries(latest).map(([key, entry]) => [key, entry.value] as const) };
    entriesByRecord.set(record, cached);
  }
  return cached;
}

/**
 * Adds one Container node per known container (running or stopped, see README): the total count, the counts
 * per type and the mounts table; for a CRI container, per Kubernetes volume type and with its pod. A source
 * that cannot reach its runtime holds no containers, so none are served. Each record's entries are derived
 * once (see {@link entriesByRecord}); every call stamps them with this report's time.
 */
export function collectVolumeCounts(report: ReportBuilder, source: VolumeCountSource): void {
  const topology = report.topology('Container');
  for (const record of source.containers().values()) {
    const { nodeId, entries } = entriesOf(record);
    const node = topology.node(nodeId);
    for (const [key, value] of entries) node.latest(key, value);
  }
}

/**
 * {@link collectVolumeCounts} that says {@link UNCHANGED} when the source holds the very records it held at
 * the previous collection, in the same order: the report would be the same but for its time, so core serves
 * the previous one again, re-stamped, without rebuilding, guarding or serializing it. The check compares
 * object identities only (no allocation), which is exact because the inventories replace a record on
 * every change they see (an event, a resync finding a new state). The first call, and the first after
 * `forget()`, always builds.
 */
export function createVolumeCountCollector(source: VolumeCountSource) {
  let served: RuntimeContainerRecord[] | undefined;
  const isUnchanged = (containers: ReadonlyMap<string, RuntimeContainerRecord>): boolean => {
    if (!served || served.length !== containers.size) return false;
    let i = 0;
    for (const record of containers.values()) if (record !== served[i++]) return false;
    return true;
  };
  return {
    /** Fills `report`, or returns UNCHANGED (and leaves it empty) when nothing moved since the last call. */
    collect(report: ReportBuilder): CollectResult {
      const containers = source.containers();
      if (isUnchanged(containers)) return UNCHANGED;
      collectVolumeCounts(report, { containers: () => containers });
      served = [...containers.values()];
      return undefined;
    },
    /** The next `collect` builds (its report was dropped, e.g. a warm-up: the last one served is older). */
    forget(): void {
      served = undefined;
    },
  };
}
