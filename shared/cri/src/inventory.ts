import { GRPC_STATUS as grpcStatus } from './grpc-status.js';
import { createBackoff, sleepUnlessAborted, validatePositiveNumber, type Logger } from '@scope-plugins/core';
import type { DockerInventoryStatus } from '@scope-plugins/docker';
import { createCriClient, type CriClient, type CriContainer, type CriContainerStatusResponse, type CriPodSandbox } from './client.js';
import { describeCriFailure, type CriFailure } from './describe-failure.js';
import { formatCriState, parseHostNamespaceFlags, parseStatusPid, type CriContainerRecord, type HostNamespaceFlags } from './record.js';

/** Connection state of an inventory: the same shape as the Docker inventory's. */
export type ContainerInventoryStatus = DockerInventoryStatus;

/** A live view of the containers of one runtime, Docker's or a CRI runtime's. */
export interface ContainerInventory<R> {
  /** Containers by full id; empty while the runtime is unreachable, so a vanished container is never served. */
  containers(): ReadonlyMap<string, R>;
  status(): ContainerInventoryStatus;
  /** Resolves after the first successful full sync or the first failure. */
  ready(): Promise<void>;
  /** Stops following the runtime. Idempotent. */
  close(): Promise<void>;
}

/** A live view of the containers of a CRI runtime. */
export interface CriInventory extends ContainerInventory<CriContainerRecord> {
  /** The code of the failure that holds it down (`UNIMPLEMENTED`: the socket's server does not speak CRI); undefined while up. */
  failureCode(): string | undefined;
}

/** Options of {@link createCriInventory}. */
export interface CriInventoryOptions {
  /** `unix:///run/containerd/containerd.sock`, `unix:///var/run/crio/crio.sock`, ... */
  endpoint: string;
  log: Logger;
  /**
   * How often the container and sandbox lists are read. CRI events (`GetContainerEvents`) need containerd ≥ 1.7
   * or CRI-O ≥ 1.26 and report only state changes; two list calls a second cost about 1 ms of CPU here
   * (bench/results/cri.md), and each container's status is read only when it appears or changes state.
   * @default 1000
   */
  pollMs?: number;
  /** Deadline of each CRI call. @default 5000 */
  requestTimeoutMs?: number;
  /** Longest wait between attempts while the runtime is unreachable. @default 5000 */
  backoffMaxMs?: number;
  /** Parallel `ContainerStatus` calls when many containers appear at once. @default 8 */
  statusConcurrency?: number;
  /** Stops the inventory when aborted. */
  signal?: AbortSignal;
}

interface CachedContainer {
  state: string;
  record: CriContainerRecord;
}

/**
 * Follows one CRI runtime: lists pod sandboxes and containers every `pollMs`; reads a container's status
 * (mounts, and its pid through the verbose answer) only when it first appears or changes state, and a
 * sandbox's status (host network/PID/IPC) once. When the runtime cannot be reached the inventory is emptied,
 * one line per state change is logged through `log.transition`, and it retries with backoff.
 */
export function createCriInventory(options: CriInventoryOptions): CriInventory {
  if (!options || typeof options.log?.transition !== 'function') throw new TypeError('createCriInventory needs options.log (a core Logger)');
  const pollMs = validatePositiveNumber('pollMs', options.pollMs ?? 1000);
  const requestTimeoutMs = validatePositiveNumber('requestTimeoutMs', options.requestTimeoutMs ?? 5000);
  const backoffMaxMs = validatePositiveNumber('backoffMaxMs', options.backoffMaxMs ?? 5000);
  const statusConcurrency = Math.floor(validatePositiveNumber('statusConcurrency', options.statusConcurrency ?? 8));
  const endpoint = options.endpoint;
  const client: CriClient = createCriClient({ endpoint, timeoutMs: requestTimeoutMs });
  const log = options.log;
  const logKey = `cri:${endpoint}`;

  const stop = new AbortController();
  const onOuterAbort = () => stop.abort(options.signal?.reason);
  if (options.signal?.aborted) stop.abort(options.signal.reason);
  else options.signal?.addEventListener('abort', onOuterAbort, { once: true });

  let containers: ReadonlyMap<string, CriContainerRecord> = new Map();
  let cache = new Map<string, CachedContainer>();
  let sandboxFlags = new Map<string, HostNamespaceFlags>();
  let runtimeName = '';
  let failureCode: string | undefined;
  let status: ContainerInventoryStatus = { state: 'connecting', since: new Date() };
  let settleReady: () => void = () => undefined;
  const readyPromise = new Promise<void>((resolve) => {
    settleReady = resolve;
  });

  const markDown = (failure: CriFailure) => {
    // Nothing from a lost runtime may be served: its containers may be gone by now.
    containers = new Map();
    cache = new Map();
    sandboxFlags = new Map();
    runtimeName = '';
    failureCode = failure.code;
    if (status.state !== 'down' || status.reason !== failure.reason) status = { state: 'down', reason: failure.reason, since: new Date() };
    log.transition(logKey, `down:${failure.code}`, 'warn', `container runtime unreachable through CRI, serving no containers and retrying with backoff: ${failure.reason}`, { endpoint });
    settleReady();
  };

  const markUp = () => {
    failureCode = undefined;
    if (status.state !== 'up') status = { state: 'up', since: new Date() };
    log.transition(logKey, 'up', 'info', `${runtimeName || 'CRI runtime'} reachable through CRI; containers listed, polling every ${pollMs} ms`, { endpoint, containers: containers.size });
    settleReady();
  };

  const isNotFound = (error: unknown) => (error as { code?: unknown } | null)?.code === grpcStatus.NOT_FOUND;

  const readSandboxFlags = async (sandbox: CriPodSandbox): Promise<HostNamespaceFlags | undefined> => {
    try {
      const answer = await client.podSandboxStatus(sandbox.id);
      return parseHostNamespaceFlags(answer.status?.linux?.namespaces?.options);
    } catch (error) {
      // Removed between the list and this call: it will be gone from the next list too.
      if (isNotFound(error)) return undefined;
      throw error;
    }
  };

  const readRecord = async (container: CriContainer, sandbox: CriPodSandbox | undefined, flags: HostNamespaceFlags | undefined): Promise<CriContainerRecord | undefined> => {
    const running = container.state === 'CONTAINER_RUNNING';
    let answer: CriContainerStatusResponse;
    try {
      // Verbose only for running containers: it carries the pid (and the whole OCI spec, ~10 KiB, hence not always).
      answer = await client.containerStatus(container.id, running);
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
    const labels = container.labels ?? {};
    const state = formatCriState(answer.status?.state ?? container.state);
    return {
      runtime: runtimeName,
      id: container.id,
      name: container.metadata?.name || labels['io.kubernetes.container.name'] || '',
      pod: {
        name: sandbox?.metadata?.name || labels['io.kubernetes.pod.name'] || '',
        namespace: sandbox?.metadata?.namespace || labels['io.kubernetes.pod.namespace'] || '',
        uid: sandbox?.metadata?.uid || labels['io.kubernetes.pod.uid'] || '',
        sandboxId: container.podSandboxId,
      },
      state,
      running: state === 'running',
      pid: state === 'running' ? parseStatusPid(answer.info) : 0,
      image: container.image?.image ?? '',
      mounts: answer.status?.mounts ?? [],
      hostNamespaces: flags ?? { network: false, pid: false, ipc: false },
    };
  };

  const sync = async () => {
    if (runtimeName === '') runtimeName = (await client.version()).runtimeName;
    const [sandboxList, containerList] = await Promise.all([client.listPodSandboxes(), client.listContainers()]);
    const sandboxes = new Map(sandboxList.map((s) => [s.id, s]));
    const nextFlags = new Map<string, HostNamespaceFlags>();
    for (const sandbox of sandboxList) {
      const known = sandboxFlags.get(sandbox.id);
      const flags = known ?? (await readSandboxFlags(sandbox));
      if (flags) nextFlags.set(sandbox.id, flags);
    }
    const nextCache = new Map<string, CachedContainer>();
    const toRead: CriContainer[] = [];
    for (const container of containerList) {
      if (!/^[0-9a-f]{64}$/.test(container.id)) continue;
      const cached = cache.get(container.id);
      if (cached && cached.state === container.state) nextCache.set(container.id, cached);
      else toRead.push(container);
    }
    let cursor = 0;
    const worker = async () => {
      while (cursor < toRead.length) {
        const container = toRead[cursor++]!;
        const record = await readRecord(container, sandboxes.get(container.podSandboxId), nextFlags.get(container.podSandboxId));
        if (record) nextCache.set(container.id, { state: container.state, record });
      }
    };
    await Promise.all(Array.from({ length: Math.min(statusConcurrency, toRead.length) }, worker));
    if (stop.signal.aborted) return;
    sandboxFlags = nextFlags;
    cache = nextCache;
    containers = new Map([...nextCache].map(([id, { record }]) => [id, record]));
  };

  const loop = (async () => {
    const backoff = createBackoff({ initialMs: pollMs, maxMs: Math.max(pollMs, backoffMaxMs) });
    while (!stop.signal.aborted) {
      let wait = pollMs;
      try {
        await sync();
        if (stop.signal.aborted) break;
        markUp();
        backoff.reset();
      } catch (error) {
        if (stop.signal.aborted) break;
        markDown(describeCriFailure(error, endpoint));
        wait = backoff.next();
      }
      await sleepUnlessAborted(wait, stop.signal);
    }
    containers = new Map();
    settleReady();
  })();

  let closing: Promise<void> | undefined;
  return {
    containers: () => containers,
    status: () => status,
    ready: () => readyPromise,
    failureCode: () => failureCode,
    close() {
      closing ??= (async () => {
        options.signal?.removeEventListener('abort', onOuterAbort);
        stop.abort(new Error('inventory closed'));
        await loop;
        client.close();
      })();
      return closing;
    },
  };
}
