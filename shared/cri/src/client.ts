import type { Client, ServiceError } from '@grpc/grpc-js';
import type protobuf from 'protobufjs';
import { CRI_API_PROTO } from './api-proto.js';

/** A namespace mode of the CRI API: shared by the pod, private to the container, the node's, or another container's. */
export type CriNamespaceMode = 'POD' | 'CONTAINER' | 'NODE' | 'TARGET';

/** `NamespaceOption` as decoded. */
export interface CriNamespaceOption {
  network: CriNamespaceMode;
  pid: CriNamespaceMode;
  ipc: CriNamespaceMode;
  targetId: string;
}

/** `Mount` as decoded (and as sent when creating a container). */
export interface CriMount {
  containerPath: string;
  hostPath: string;
  readonly: boolean;
  selinuxRelabel?: boolean;
  propagation: 'PROPAGATION_PRIVATE' | 'PROPAGATION_HOST_TO_CONTAINER' | 'PROPAGATION_BIDIRECTIONAL';
}

/** `PodSandboxMetadata`. */
export interface CriPodSandboxMetadata {
  name: string;
  uid: string;
  namespace: string;
  attempt: number;
}

/** `VersionResponse`. */
export interface CriVersion {
  version: string;
  runtimeName: string;
  runtimeVersion: string;
  runtimeApiVersion: string;
}

/** One item of `ListPodSandboxResponse`. */
export interface CriPodSandbox {
  id: string;
  metadata: CriPodSandboxMetadata;
  state: 'SANDBOX_READY' | 'SANDBOX_NOTREADY';
  labels: Record<string, string>;
  annotations: Record<string, string>;
}

/** `PodSandboxStatusResponse`. */
export interface CriPodSandboxStatusResponse {
  status: CriPodSandbox & { linux?: { namespaces?: { options?: CriNamespaceOption } } };
  info: Record<string, string>;
}

/** `ContainerState`. */
export type CriContainerState = 'CONTAINER_CREATED' | 'CONTAINER_RUNNING' | 'CONTAINER_EXITED' | 'CONTAINER_UNKNOWN';

/** One item of `ListContainersResponse`. */
export interface CriContainer {
  id: string;
  podSandboxId: string;
  metadata: { name: string; attempt: number };
  image: { image: string };
  imageRef: string;
  state: CriContainerState;
  labels: Record<string, string>;
  annotations: Record<string, string>;
}

/** `ContainerStatusResponse`. */
export interface CriContainerStatusResponse {
  status: {
    id: string;
    metadata: { name: string; attempt: number };
    state: CriContainerState;
    image: { image: string };
    imageRef: string;
    labels: Record<string, string>;
    annotations: Record<string, string>;
    mounts: CriMount[];
  };
  /** Verbose only: runtime-specific JSON by key; containerd and CRI-O both put `{"pid": …}` under `info`. */
  info: Record<string, string>;
}

/** What {@link CriClient.runPodSandbox} sends (`PodSandboxConfig`); only the fields a test or kubelet-like caller needs. */
export interface CriPodSandboxConfig {
  metadata: CriPodSandboxMetadata;
  hostname?: string;
  logDirectory?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  linux?: { cgroupParent?: string; securityContext?: { namespaceOptions?: Partial<CriNamespaceOption> } };
}

/** What {@link CriClient.createContainer} sends (`ContainerConfig`). */
export interface CriContainerConfig {
  metadata: { name: string; attempt?: number };
  image: { image: string };
  command?: string[];
  args?: string[];
  mounts?: Partial<CriMount>[];
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  logPath?: string;
  linux?: { securityContext?: { namespaceOptions?: Partial<CriNamespaceOption> } };
}

/** A client of one CRI runtime endpoint (`runtime.v1.RuntimeService`). */
export interface CriClient {
  /** The endpoint as given (`unix:///run/containerd/containerd.sock`). */
  readonly endpoint: string;
  version(): Promise<CriVersion>;
  listPodSandboxes(): Promise<CriPodSandbox[]>;
  podSandboxStatus(podSandboxId: string): Promise<CriPodSandboxStatusResponse>;
  listContainers(): Promise<CriContainer[]>;
  containerStatus(containerId: string, verbose: boolean): Promise<CriContainerStatusResponse>;
  runPodSandbox(config: CriPodSandboxConfig): Promise<string>;
  stopPodSandbox(podSandboxId: string): Promise<void>;
  removePodSandbox(podSandboxId: string): Promise<void>;
  createContainer(podSandboxId: string, config: CriContainerConfig, sandboxConfig: CriPodSandboxConfig): Promise<string>;
  startContainer(containerId: string): Promise<void>;
  /** Closes the channel; later calls fail. */
  close(): void;
}

/** Options of {@link createCriClient}. */
export interface CriClientOptions {
  /** `unix:///path`, `unix:/path` or an absolute socket path. */
  endpoint: string;
  /** Deadline of each call. @default 10000 */
  timeoutMs?: number;
}

/** Default CRI endpoints, in the order `auto` looks for them. */
export const DEFAULT_CRI_ENDPOINTS = {
  containerd: 'unix:///run/containerd/containerd.sock',
  'cri-o': 'unix:///var/run/crio/crio.sock',
} as const;

/** The socket path of a `unix://` endpoint; TypeError for anything else (CRI runtimes listen on UNIX sockets only). */
export function parseCriEndpoint(endpoint: string): string {
  if (typeof endpoint !== 'string' || endpoint === '') throw new TypeError(`CRI endpoint must be unix:///path/to/socket, got ${JSON.stringify(endpoint)}`);
  const path = endpoint.startsWith('unix://') ? endpoint.slice('unix://'.length) : endpoint.startsWith('unix:') ? endpoint.slice('unix:'.length) : endpoint;
  if (!path.startsWith('/')) throw new TypeError(`CRI endpoint must be unix:///path/to/socket (an absolute path), got ${JSON.stringify(endpoint)}`);
  return path;
}

type Modules = { grpc: typeof import('@grpc/grpc-js'); root: protobuf.Root };
let modules: Promise<Modules> | undefined;
/**
 * @grpc/grpc-js and protobufjs are loaded, and the proto parsed (about 2 ms), on the first CRI call only: they
 * weigh several MiB of memory that a plugin on a Docker host (or with containers switched off) never needs.
 */
function loadModules(): Promise<Modules> {
  modules ??= Promise.all([import('@grpc/grpc-js'), import('protobufjs')]).then(([grpc, pb]) => ({ grpc, root: pb.default.parse(CRI_API_PROTO).root }));
  return modules;
}

const DECODE_OPTIONS: protobuf.IConversionOptions = { longs: String, enums: String, defaults: true, arrays: true, objects: true };

/**
 * Creates a CRI client over @grpc/grpc-js with messages encoded by protobufjs from {@link CRI_API_PROTO}. No call
 * waits for the runtime to appear: an absent socket fails the call at once with UNAVAILABLE.
 */
export function createCriClient(options: CriClientOptions): CriClient {
  const socketPath = parseCriEndpoint(options.endpoint);
  const timeoutMs = options.timeoutMs ?? 10_000;
  // grpc-js wants unix:///abs/path; the authority is irrelevant on a UNIX socket but must be a valid host name.
  let client: Client | undefined;
  let closed = false;
  const connect = async (): Promise<{ client: Client; grpc: Modules['grpc']; root: protobuf.Root }> => {
    const { grpc, root } = await loadModules();
    // grpc-js wants unix:///abs/path; the authority is irrelevant on a UNIX socket but must be a valid host name.
    client ??= new grpc.Client(`unix://${socketPath}`, grpc.credentials.createInsecure(), {
      'grpc.default_authority': 'localhost',
      // CRI answers on a busy node can be large (ListContainers with every label and annotation).
      'grpc.max_receive_message_length': 64 * 1024 * 1024,
      // grpc-js waits up to 120 s between reconnects by default: a restarted runtime would stay unseen that long.
      'grpc.initial_reconnect_backoff_ms': 500,
      'grpc.max_reconnect_backoff_ms': 5000,
    });
    // Closed while the modules loaded: the call fails as one on a closed channel would.
    if (closed) client.close();
    return { client, grpc, root };
  };

  const call = async <T>(method: string, requestType: string, responseType: string, request: object): Promise<T> => {
    const { client, grpc, root } = await connect();
    const req = root.lookupType(`runtime.v1.${requestType}`);
    const res = root.lookupType(`runtime.v1.${responseType}`);
    return new Promise<T>((resolve, reject) => {
      client.makeUnaryRequest(
        `/runtime.v1.RuntimeService/${method}`,
        (value: object) => Buffer.from(req.encode(req.fromObject(value)).finish()),
        (buffer: Buffer) => res.toObject(res.decode(buffer), DECODE_OPTIONS) as T,
        request,
        new grpc.Metadata(),
        { deadline: Date.now() + timeoutMs },
        (error: ServiceError | null, value?: T) => {
          if (error) reject(error);
          else resolve(value as T);
        },
      );
    });
  };

  return {
    endpoint: options.endpoint,
    version: () => call<CriVersion>('Version', 'VersionRequest', 'VersionResponse', { version: 'v1' }),
    listPodSandboxes: async () => (await call<{ items: CriPodSandbox[] }>('ListPodSandbox', 'ListPodSandboxRequest', 'ListPodSandboxResponse', {})).items,
    podSandboxStatus: (id) => call('PodSandboxStatus', 'PodSandboxStatusRequest', 'PodSandboxStatusResponse', { podSandboxId: id }),
    listContainers: async () => (await call<{ containers: CriContainer[] }>('ListContainers', 'ListContainersRequest', 'ListContainersResponse', {})).containers,
    containerStatus: (id, verbose) => call('ContainerStatus', 'ContainerStatusRequest', 'ContainerStatusResponse', { containerId: id, verbose }),
    runPodSandbox: async (config) => (await call<{ podSandboxId: string }>('RunPodSandbox', 'RunPodSandboxRequest', 'RunPodSandboxResponse', { config })).podSandboxId,
    stopPodSandbox: async (id) => void (await call('StopPodSandbox', 'StopPodSandboxRequest', 'StopPodSandboxResponse', { podSandboxId: id })),
    removePodSandbox: async (id) => void (await call('RemovePodSandbox', 'RemovePodSandboxRequest', 'RemovePodSandboxResponse', { podSandboxId: id })),
    createContainer: async (podSandboxId, config, sandboxConfig) =>
      (await call<{ containerId: string }>('CreateContainer', 'CreateContainerRequest', 'CreateContainerResponse', { podSandboxId, config, sandboxConfig })).containerId,
    startContainer: async (id) => void (await call('StartContainer', 'StartContainerRequest', 'StartContainerResponse', { containerId: id })),
    close: () => {
      closed = true;
      client?.close();
    },
  };
}
