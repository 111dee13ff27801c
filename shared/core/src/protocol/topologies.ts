/** Report keys (Go field names, exact case) mapped to the topology names Scope uses in node `topology` fields and `parents`. */
export const TOPOLOGY_NAMES = {
  Host: 'host',
  Container: 'container',
  ContainerImage: 'container_image',
  Process: 'process',
  Pod: 'pod',
  Service: 'service',
  Deployment: 'deployment',
  ReplicaSet: 'replica_set',
  DaemonSet: 'daemon_set',
  StatefulSet: 'stateful_set',
  CronJob: 'cron_job',
  Job: 'job',
  Namespace: 'namespace',
  Endpoint: 'endpoint',
  Overlay: 'overlay',
  ECSTask: 'ecs_task',
  ECSService: 'ecs_service',
  SwarmService: 'swarm_service',
  PersistentVolume: 'persistent_volume',
  PersistentVolumeClaim: 'persistent_volume_claim',
  StorageClass: 'storage_class',
  VolumeSnapshot: 'volume_snapshot',
  VolumeSnapshotData: 'volume_snapshot_data',
} as const;

/** A top-level report key naming a topology, e.g. `Host`. */
export type TopologyKey = keyof typeof TOPOLOGY_NAMES;

/** A topology name as used inside nodes, e.g. `host`. */
export type TopologyName = (typeof TOPOLOGY_NAMES)[TopologyKey];

/** Top-level report fields that belong to the probe and must never come from a plugin. */
export const PROBE_ONLY_REPORT_KEYS = ['TS', 'Window', 'Shortcut', 'Sampling', 'DNS', 'ID'] as const;

/** Fields Scope decodes inside a topology. */
export const TOPOLOGY_FIELDS = ['nodes', 'metadata_templates', 'metric_templates', 'table_templates', 'controls'] as const;

/** Latest keys a plugin may set although they are not prefixed with its id. */
export const SHARED_LATEST_KEYS = ['active_controls', 'control_probe_id'] as const;

/** Latest keys the probe itself writes; a plugin value would overwrite the probe's. */
export const PROBE_LATEST_KEYS = [
  'host_name', 'os', 'kernel_version', 'uptime', 'local_networks', 'host_node_id', 'probe_id',
  'pid', 'name', 'cmdline', 'threads', 'ppid',
  'docker_container_id', 'docker_container_name', 'docker_container_command', 'docker_container_state',
  'docker_container_state_human', 'docker_container_created', 'docker_container_hostname',
  'docker_container_ips', 'docker_container_restart_count', 'docker_container_uptime',
  'docker_container_network_mode', 'docker_image_id', 'docker_image_name', 'docker_image_tag',
] as const;

/** Latest-key prefixes the probe owns (labels, env, k8s metadata). */
export const PROBE_LATEST_PREFIXES = ['docker_label_', 'docker_env_', 'kubernetes_', 'ecs_', 'swarm_'] as const;

/** True when `key` is a topology key Scope decodes. */
export function isTopologyKey(key: string): key is TopologyKey {
  return Object.hasOwn(TOPOLOGY_NAMES, key);
}
