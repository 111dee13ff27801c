import { containerNodeId, type ReportBuilder } from '@scope-plugins/core';
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

/**
 * Adds one Container node per known container (running or stopped, see README): the total count, the counts
 * per type and the mounts table; for a CRI container, per Kubernetes volume type and with its pod. A source
 * that cannot reach its runtime holds no containers, so none are served.
 */
export function collectVolumeCounts(report: ReportBuilder, source: VolumeCountSource): void {
  const topology = report.topology('Container');
  for (const record of source.containers().values()) {
    if (isCriContainerRecord(record)) {
      addKubernetesContainer(report, record);
      continue;
    }
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
