import { existsSync } from 'node:fs';
import type { Logger, PluginOption } from '@scope-plugins/core';
import { DEFAULT_DOCKER_HOST, createDockerInventory, parseDockerHost, type ContainerRecord } from '@scope-plugins/docker';
import { DEFAULT_CRI_ENDPOINTS, parseCriEndpoint } from './client.js';
import { createCriInventory, type ContainerInventory } from './inventory.js';
import type { CriContainerRecord } from './record.js';

/** `--container-runtime` values. */
export const CONTAINER_RUNTIMES = ['auto', 'docker', 'containerd', 'cri-o'] as const;
/** A `--container-runtime` value. */
export type ContainerRuntimeChoice = (typeof CONTAINER_RUNTIMES)[number];

/** A container from either kind of runtime: Docker's keeps its whole inspect answer, a CRI one is runtime-neutral. */
export type RuntimeContainerRecord = ContainerRecord | CriContainerRecord;

/** True for a record from a CRI runtime (containerd, CRI-O), false for Docker's. */
export function isCriContainerRecord(record: RuntimeContainerRecord): record is CriContainerRecord {
  return 'pod' in record && 'mounts' in record;
}

/** Validates a `--container-runtime` value. */
export function parseContainerRuntime(value: string): ContainerRuntimeChoice {
  if (!(CONTAINER_RUNTIMES as readonly string[]).includes(value)) {
    throw new TypeError(`--container-runtime must be one of ${CONTAINER_RUNTIMES.join(', ')}, got ${JSON.stringify(value)}`);
  }
  return value as ContainerRuntimeChoice;
}

/** `--container-runtime <name>` (env `SCOPE_CONTAINER_RUNTIME`). @default 'auto' */
export const containerRuntimeOption: PluginOption = {
  flags: '--container-runtime <name>',
  description: `where containers come from: ${CONTAINER_RUNTIMES.join('|')} (auto: Docker if its socket exists, else containerd, else CRI-O)`,
  env: 'SCOPE_CONTAINER_RUNTIME',
  default: 'auto',
  parse: (value: string) => parseContainerRuntime(value),
};

/** `--runtime-endpoint <url>` (env `CONTAINER_RUNTIME_ENDPOINT`, as crictl): the CRI socket of containerd or CRI-O. */
export const runtimeEndpointOption: PluginOption = {
  flags: '--runtime-endpoint <url>',
  description: `CRI socket (unix:///path); default ${DEFAULT_CRI_ENDPOINTS.containerd} for containerd, ${DEFAULT_CRI_ENDPOINTS['cri-o']} for cri-o`,
  env: 'CONTAINER_RUNTIME_ENDPOINT',
  parse: (value: string) => {
    parseCriEndpoint(value);
    return value;
  },
};

/** What {@link selectContainerRuntime} decided. */
export type RuntimeSelection =
  | { kind: 'docker'; dockerHost: string; found: string }
  | { kind: 'cri'; runtime: 'containerd' | 'cri-o' | 'cri'; endpoint: string; found: string };

/** Options of {@link selectContainerRuntime}. */
export interface RuntimeSelectionOptions {
  runtime?: ContainerRuntimeChoice;
  /** CRI endpoint; with `auto`, giving one selects CRI. */
  endpoint?: string;
  /** @default 'unix:///var/run/docker.sock' */
  dockerHost?: string;
  /** Whether a path exists; injectable for tests of the decision. @default fs.existsSync */
  exists?: (path: string) => boolean;
}

function socketOf(dockerHost: string): string | undefined {
  const endpoint = parseDockerHost(dockerHost);
  return endpoint.kind === 'unix' ? endpoint.socketPath : undefined;
}

/**
 * Decides where containers come from. `auto`: an explicit CRI endpoint wins; otherwise Docker when its socket
 * exists (so Docker-only nodes behave exactly as before), else containerd's default socket, else CRI-O's; with
 * none of them, Docker (which then logs that it is unreachable and keeps retrying, as before). `found` says
 * what was looked at, for one log line.
 */
export function selectContainerRuntime(options: RuntimeSelectionOptions = {}): RuntimeSelection {
  const runtime = options.runtime ?? 'auto';
  const dockerHost = options.dockerHost ?? DEFAULT_DOCKER_HOST;
  const exists = options.exists ?? existsSync;
  if (runtime === 'docker') return { kind: 'docker', dockerHost, found: '--container-runtime docker' };
  if (runtime === 'containerd' || runtime === 'cri-o') {
    return { kind: 'cri', runtime, endpoint: options.endpoint ?? DEFAULT_CRI_ENDPOINTS[runtime], found: `--container-runtime ${runtime}` };
  }
  if (options.endpoint !== undefined) {
    const path = parseCriEndpoint(options.endpoint);
    const guess = /crio/.test(path) ? 'cri-o' : /containerd/.test(path) ? 'containerd' : 'cri';
    return { kind: 'cri', runtime: guess, endpoint: options.endpoint, found: `runtime endpoint ${options.endpoint} given` };
  }
  const dockerSocket = socketOf(dockerHost);
  // A tcp:// Docker host cannot be checked without a request: it was asked for explicitly, so it is used.
  if (dockerSocket === undefined || exists(dockerSocket)) {
    return { kind: 'docker', dockerHost, found: dockerSocket ? `Docker socket ${dockerSocket} exists` : `Docker host ${dockerHost}` };
  }
  const looked = [`no Docker socket at ${dockerSocket}`];
  for (const name of ['containerd', 'cri-o'] as const) {
    const path = parseCriEndpoint(DEFAULT_CRI_ENDPOINTS[name]);
    if (exists(path)) return { kind: 'cri', runtime: name, endpoint: DEFAULT_CRI_ENDPOINTS[name], found: `${looked.join(', ')}; ${name} socket ${path} exists` };
    looked.push(`no ${name} socket at ${path}`);
  }
  return { kind: 'docker', dockerHost, found: `${looked.join(', ')}: waiting for Docker` };
}

/** Options of {@link createContainerInventory}. */
export interface ContainerInventoryOptions extends RuntimeSelectionOptions {
  log: Logger;
  /** Docker full-resync period. @default 30000 */
  dockerResyncMs?: number;
  /** CRI list period. @default 1000 */
  criPollMs?: number;
  signal?: AbortSignal;
}

/** Selects the runtime (one info line says which and why) and starts the matching inventory. */
export function createContainerInventory(options: ContainerInventoryOptions): ContainerInventory<RuntimeContainerRecord> & { selection: RuntimeSelection } {
  const selection = selectContainerRuntime(options);
  const { log, signal } = options;
  if (selection.kind === 'docker') {
    log.info(`container runtime: docker (${selection.found})`, { docker_host: selection.dockerHost });
    const inventory = createDockerInventory({ dockerHost: selection.dockerHost, log, ...(options.dockerResyncMs ? { resyncMs: options.dockerResyncMs } : {}), ...(signal ? { signal } : {}) });
    return Object.assign(inventory, { selection });
  }
  log.info(`container runtime: ${selection.runtime === 'cri' ? 'a CRI runtime' : selection.runtime} through CRI (${selection.found})`, { endpoint: selection.endpoint });
  const inventory = createCriInventory({ endpoint: selection.endpoint, log, ...(options.criPollMs ? { pollMs: options.criPollMs } : {}), ...(signal ? { signal } : {}) });
  return Object.assign(inventory, { selection });
}
