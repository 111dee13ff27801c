import type { CriContainerState, CriMount, CriNamespaceOption } from './client.js';

/** Which namespaces a pod shares with the node, as its sandbox was configured (`NamespaceMode` NODE). */
export interface HostNamespaceFlags {
  network: boolean;
  pid: boolean;
  ipc: boolean;
}

/** The pod a CRI container belongs to. */
export interface PodRef {
  name: string;
  namespace: string;
  uid: string;
  sandboxId: string;
}

/** What the CRI inventory knows about one container: runtime-neutral, no Docker inspect. */
export interface CriContainerRecord {
  /** The runtime's own name from CRI `Version` (`containerd`, `cri-o`). */
  runtime: string;
  /** Full 64-hex container id (the id Scope's CRI probe uses in `<id>;<container>`). */
  id: string;
  /** The Kubernetes container name (`ContainerMetadata.name`). */
  name: string;
  pod: PodRef;
  /** `created`, `running`, `exited` or `unknown`. */
  state: 'created' | 'running' | 'exited' | 'unknown';
  running: boolean;
  /** Main process pid in the host pid namespace; 0 if not running or not told by the runtime. */
  pid: number;
  image: string;
  /** The mounts kubelet asked for (`ContainerStatus.mounts`), in the runtime's order. */
  mounts: CriMount[];
  hostNamespaces: HostNamespaceFlags;
}

/** `CONTAINER_RUNNING` → `running`, ... */
export function formatCriState(state: CriContainerState | string): CriContainerRecord['state'] {
  switch (state) {
    case 'CONTAINER_CREATED':
      return 'created';
    case 'CONTAINER_RUNNING':
      return 'running';
    case 'CONTAINER_EXITED':
      return 'exited';
    default:
      return 'unknown';
  }
}

/** Host flags from a sandbox's namespace options; all false when the runtime did not say. */
export function parseHostNamespaceFlags(options: Partial<CriNamespaceOption> | undefined): HostNamespaceFlags {
  return { network: options?.network === 'NODE', pid: options?.pid === 'NODE', ipc: options?.ipc === 'NODE' };
}

/**
 * The main pid from a verbose `ContainerStatus` answer: containerd and CRI-O both put a JSON object with `pid`
 * under the `info` key. 0 when absent or malformed (the container is then listed, just not inspectable in /proc).
 */
export function parseStatusPid(info: Record<string, string> | undefined): number {
  const text = info?.['info'];
  if (typeof text !== 'string') return 0;
  try {
    const pid = (JSON.parse(text) as { pid?: unknown }).pid;
    return typeof pid === 'number' && Number.isInteger(pid) && pid > 0 ? pid : 0;
  } catch {
    // Not JSON: a runtime that puts something else there simply gives no pid.
    return 0;
  }
}
