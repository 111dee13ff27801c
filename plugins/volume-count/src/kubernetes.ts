import type { TableRows } from '@scope-plugins/core';
import type { CriMount } from '@scope-plugins/cri';

/**
 * Kubernetes volume types counted on CRI containers, named after kubelet's volume plugin directories
 * (`kubernetes.io~configmap`, …), plus `host-path` (any path outside the pod's directory) and
 * `service-account-token` (whatever is mounted at the token path: the projected `kube-api-access-*` volume,
 * or the `<sa>-token-*` secret before Kubernetes 1.22).
 */
export const KUBERNETES_VOLUME_TYPES = ['configmap', 'secret', 'empty-dir', 'projected', 'csi', 'host-path', 'service-account-token'] as const;
/** One of {@link KUBERNETES_VOLUME_TYPES}. */
export type KubernetesVolumeType = (typeof KUBERNETES_VOLUME_TYPES)[number];

/** Where kubelet mounts the service-account token. */
export const SERVICE_ACCOUNT_TOKEN_PATH = '/var/run/secrets/kubernetes.io/serviceaccount';

/** One mount of a CRI container, classified from kubelet's host path. */
export interface KubernetesMount {
  /**
   * A {@link KubernetesVolumeType}; another volume plugin's own name (`downward-api`, `nfs`, `local-volume`, …);
   * `subpath` for a `subPath` mount (kubelet's `volume-subpaths` directory hides the volume's type); or, for the
   * files kubelet itself mounts (not volumes, not counted), `etc-hosts` and `termination-log`.
   */
  type: string;
  /** The pod volume's name; the host path for `host-path`; empty for kubelet's own files. */
  volume: string;
  /** Path inside the container. */
  destination: string;
  /** Path on the node. */
  hostPath: string;
  readOnly: boolean;
  /** `rprivate`, `rslave` or `rshared`. */
  propagation: string;
  /** False for kubelet's own files (`/etc/hosts`, the termination log). */
  isVolume: boolean;
}

/** Counts per {@link KubernetesVolumeType}; `other` holds every other volume plugin and `subpath`; `total` all volumes. */
export type KubernetesMountCounts = Record<KubernetesVolumeType | 'other' | 'total', number>;

// <kubelet root>/pods/<pod uid>/<rest>; the kubelet root is configurable (--root-dir), the layout below it is not.
const POD_DIR = /\/pods\/[0-9a-fA-F-]{36}\/(.+)$/;
const PROPAGATION: Record<string, string> = { PROPAGATION_PRIVATE: 'rprivate', PROPAGATION_HOST_TO_CONTAINER: 'rslave', PROPAGATION_BIDIRECTIONAL: 'rshared' };

/** Classifies one mount by kubelet's directory layout (pure). */
export function classifyKubernetesMount(mount: CriMount): KubernetesMount {
  const hostPath = mount.hostPath ?? '';
  const base = {
    destination: mount.containerPath ?? '',
    hostPath,
    readOnly: mount.readonly === true,
    propagation: PROPAGATION[mount.propagation] ?? 'rprivate',
  };
  const inPod = POD_DIR.exec(hostPath)?.[1];
  const parts = inPod?.split('/') ?? [];
  let type = 'host-path';
  let volume = hostPath;
  let isVolume = true;
  if (parts[0] === 'volumes' && parts[1]?.startsWith('kubernetes.io~') && parts[2]) {
    type = parts[1].slice('kubernetes.io~'.length);
    volume = parts[2];
  } else if (parts[0] === 'volume-subpaths' && parts[1]) {
    type = 'subpath';
    volume = parts[1];
  } else if (inPod === 'etc-hosts') {
    [type, volume, isVolume] = ['etc-hosts', '', false];
  } else if (parts[0] === 'containers' && parts.length === 3) {
    [type, volume, isVolume] = ['termination-log', '', false];
  }
  if (isVolume && base.destination === SERVICE_ACCOUNT_TOKEN_PATH) type = 'service-account-token';
  return { ...base, type, volume, isVolume };
}

/** Every mount of a CRI container, classified, sorted by destination like Docker's. */
export function parseKubernetesMounts(mounts: readonly CriMount[]): KubernetesMount[] {
  return mounts.map(classifyKubernetesMount).sort((a, b) => (a.destination < b.destination ? -1 : a.destination > b.destination ? 1 : 0));
}

/** Counts the volumes (kubelet's own files left out) by type. */
export function countKubernetesMounts(mounts: readonly KubernetesMount[]): KubernetesMountCounts {
  const counts = Object.fromEntries([...KUBERNETES_VOLUME_TYPES, 'other', 'total'].map((key) => [key, 0])) as KubernetesMountCounts;
  for (const mount of mounts) {
    if (!mount.isVolume) continue;
    counts.total++;
    if ((KUBERNETES_VOLUME_TYPES as readonly string[]).includes(mount.type)) counts[mount.type as KubernetesVolumeType]++;
    else counts.other++;
  }
  return counts;
}

/** Mounts table rows in the same columns as Docker's: type, volume (or host path), destination, read-only, propagation. */
export function buildKubernetesMountRows(mounts: readonly KubernetesMount[]): TableRows {
  const width = Math.max(3, String(mounts.length - 1).length);
  const rows: TableRows = {};
  mounts.forEach((mount, index) => {
    rows[String(index).padStart(width, '0')] = {
      type: mount.type,
      source: mount.volume || mount.hostPath || undefined,
      destination: mount.destination,
      read_only: mount.readOnly ? 'yes' : 'no',
      details: mount.isVolume ? mount.propagation : `${mount.propagation}, kubelet file (not a volume)`,
    };
  });
  return rows;
}
