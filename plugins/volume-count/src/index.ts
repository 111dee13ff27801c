import { UNCHANGED, definePlugin } from '@scope-plugins/core';
import { acquireContainerInventory, containerRuntimeOptions } from '@scope-plugins/cri';
import { dockerOptions } from '@scope-plugins/docker';
import { COUNT_KEYS, KUBERNETES_KEYS, MOUNTS_TABLE_PREFIX, VOLUME_COUNT_KEY, createVolumeCountCollector } from './collect.js';
import { VOLUME_COUNT_METRIC_FAMILIES, recordVolumeCountMetrics } from './metrics.js';

export { COUNT_KEYS, KUBERNETES_KEYS, MOUNTS_TABLE_PREFIX, VOLUME_COUNT_KEY, collectVolumeCounts, createVolumeCountCollector, type VolumeCountSource } from './collect.js';
export {
  KUBERNETES_VOLUME_TYPES,
  SERVICE_ACCOUNT_TOKEN_PATH,
  buildKubernetesMountRows,
  classifyKubernetesMount,
  countKubernetesMounts,
  parseKubernetesMounts,
  type KubernetesMount,
  type KubernetesMountCounts,
  type KubernetesVolumeType,
} from './kubernetes.js';
export { MAX_CONTAINER_SERIES, MOUNT_TYPES, VOLUME_COUNT_METRICS, VOLUME_COUNT_METRIC_FAMILIES, recordVolumeCountMetrics } from './metrics.js';
export { SHORT_ID_CHARS, buildMountRows, countMounts, describeMountDetails, describeMountSource, parseContainerMounts, type ContainerMount, type MountCounts } from './parse.js';

/** The volume-count plugin: mounts per container, followed live from the Docker API or a CRI runtime (containerd, CRI-O). */
export const plugin = definePlugin({
  id: 'volume-count',
  label: 'Volume Counts',
  description: 'Mounts per container: total, per type (Docker: volume, bind, tmpfs; Kubernetes: configmap, secret, empty-dir, ...) and a table of mounts',
  intervalMs: 1000,
  metrics: VOLUME_COUNT_METRIC_FAMILIES,
  topologies: {
    Container: {
      metadataTemplates: [
        { id: VOLUME_COUNT_KEY, label: '# Volumes', dataType: 'number', priority: 0.1, from: 'latest' },
        { id: COUNT_KEYS.volume, label: '# Docker volumes', dataType: 'number', priority: 0.11, from: 'latest' },
        { id: COUNT_KEYS.bind, label: '# Bind mounts', dataType: 'number', priority: 0.12, from: 'latest' },
        { id: COUNT_KEYS.tmpfs, label: '# tmpfs mounts', dataType: 'number', priority: 0.13, from: 'latest' },
        // CRI containers only (Docker containers never carry these keys, so their rows do not show there).
        { id: KUBERNETES_KEYS.podName, label: 'Pod', priority: 0.101, from: 'latest' },
        { id: KUBERNETES_KEYS.podNamespace, label: 'Pod namespace', priority: 0.102, from: 'latest' },
        { id: KUBERNETES_KEYS.configmap, label: '# ConfigMap volumes', dataType: 'number', priority: 0.141, from: 'latest' },
        { id: KUBERNETES_KEYS.secret, label: '# Secret volumes', dataType: 'number', priority: 0.142, from: 'latest' },
        { id: KUBERNETES_KEYS['empty-dir'], label: '# emptyDir volumes', dataType: 'number', priority: 0.143, from: 'latest' },
        { id: KUBERNETES_KEYS.projected, label: '# Projected volumes', dataType: 'number', priority: 0.144, from: 'latest' },
        { id: KUBERNETES_KEYS.csi, label: '# CSI volumes', dataType: 'number', priority: 0.145, from: 'latest' },
        { id: KUBERNETES_KEYS['host-path'], label: '# hostPath volumes', dataType: 'number', priority: 0.146, from: 'latest' },
        { id: KUBERNETES_KEYS['service-account-token'], label: '# Service-account token', dataType: 'number', priority: 0.147, from: 'latest' },
        { id: KUBERNETES_KEYS.other, label: '# Other volumes', dataType: 'number', priority: 0.148, from: 'latest' },
      ],
      tableTemplates: [
        {
          id: 'volume-count-mounts',
          label: 'Mounts',
          prefix: MOUNTS_TABLE_PREFIX,
          type: 'multicolumn-table',
          // Destination first: it names the mount (unique per container); Scope shows only these columns.
          columns: [
            { id: 'destination', label: 'Destination' },
            { id: 'type', label: 'Type' },
            { id: 'source', label: 'Volume / source' },
            { id: 'read_only', label: 'Read-only' },
            { id: 'details', label: 'Driver / propagation / options' },
          ],
        },
      ],
    },
  },
  // All process-wide: --container-runtime, --runtime-endpoint, --docker-host, --docker-resync-ms. The inventory is the
  // process's one per Docker host (or CRI endpoint), shared with host-namespaces.
  options: { ...containerRuntimeOptions, ...dockerOptions },
  create(ctx) {
    const inventory = acquireContainerInventory(ctx, {
      runtime: ctx.options.containerRuntime,
      ...(ctx.options.runtimeEndpoint !== undefined ? { endpoint: ctx.options.runtimeEndpoint } : {}),
      dockerHost: ctx.options.dockerHost,
      dockerResyncMs: ctx.options.dockerResyncMs,
    });
    const collector = createVolumeCountCollector(inventory);
    return {
      collect({ report, metrics, warmup }) {
        if (warmup) {
          // Core drops a warm-up's report (and its series): nothing to build, and the next collection must not refer to it.
          collector.forget();
          return undefined;
        }
        const result = collector.collect(report);
        // Unchanged: no series written, and core's metrics hub keeps the previous ones, as core keeps the report.
        if (result !== UNCHANGED) recordVolumeCountMetrics(metrics, inventory);
        return result;
      },
      // Only --once waits for the first sync (bounded by core); the socket serves from the start.
      ready: () => inventory.ready(),
      close: () => inventory.close(),
    };
  },
});
