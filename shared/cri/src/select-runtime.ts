import { existsSync } from 'node:fs';
import type { EnumOption, Logger, StringOption } from '@scope-plugins/core';
import { DEFAULT_DOCKER_HOST, acquireDockerInventory, createDockerInventory, parseDockerHost, type ContainerRecord, type DockerInventoryContext } from '@scope-plugins/docker';
import { DEFAULT_CRI_ENDPOINTS, parseCriEndpoint } from './client.js';
import { withDockerFallback } from './docker-fallback.js';
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

/** The process-wide `--container-runtime <name>` option (env `SCOPE_CONTAINER_RUNTIME`). @default 'auto' */
export const containerRuntimeOption = {
  type: 'enum',
  global: true,
  values: CONTAINER_RUNTIMES,
  default: 'auto',
  description: 'where containers come from (auto: Docker if its socket exists, else containerd, else CRI-O)',
} as const satisfies EnumOption<ContainerRuntimeChoice>;

/**
 * The process-wide `--runtime-endpoint <url>` option (env `SCOPE_RUNTIME_ENDPOINT`, then `CONTAINER_RUNTIME_ENDPOINT`
 * as crictl reads it): the CRI socket of containerd or CRI-O.
 */
export const runtimeEndpointOption = {
  type: 'string',
  global: true,
  placeholder: 'url',
  env: ['CONTAINER_RUNTIME_ENDPOINT'],
  description: `CRI socket (unix:///path); default ${DEFAULT_CRI_ENDPOINTS.containerd} for containerd, ${DEFAULT_CRI_ENDPOINTS['cri-o']} for cri-o`,
  validate: (value: string) => void parseCriEndpoint(value),
} as const satisfies StringOption;

/** Both runtime options, to spread into a plugin's `options` next to `dockerOptions`. */
export const containerRuntimeOptions = { containerRuntime: containerRuntimeOption, runtimeEndpoint: runtimeEndpointOption } as const;

/** What {@link selectContainerRuntime} decided. */
export type RuntimeSelection =
  | { kind: 'docker'; dockerHost: string; found: string }
  | { kind: 'cri'; runtime: 'containerd' | 'cri-o' | 'cri'; endpoint: string; found: string; detected?: true };

/** Options of {@link selectContainerRuntime}. */
export interface RuntimeSelectionOptions {
  runtime?: ContainerRuntimeChoice;
  /** CRI endpoint; with `auto`, giving one selects CRI. */
  endpoint?: string;
  /** @default 'unix:///var/run/docker.sock' */
  dockerHost?: string;
  /** Whether a path exists; injectable for tests of the decision. @default fs.existsSync */
  exists?: (path: string) => boolean;
  /** Where `auto` looks for containerd's and CRI-O's sockets; injectable for tests. @default DEFAULT_CRI_ENDPOINTS */
  criEndpoints?: { readonly containerd: string; readonly 'cri-o': string };
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
  const endpoints = options.criEndpoints ?? DEFAULT_CRI_ENDPOINTS;
  for (const name of ['containerd', 'cri-o'] as const) {
    const path = parseCriEndpoint(endpoints[name]);
    // `detected`: only a socket was seen; if it does not speak CRI, the inventory falls back to Docker.
    if (exists(path)) return { kind: 'cri', runtime: name, endpoint: endpoints[name], found: `${looked.join(', ')}; ${name} socket ${path} exists`, detected: true };
    looked.push(`no ${name} socket at ${path}`);
  }
  return { kind: 'docker', dockerHost, found: `${looked.join(', ')}: waiting for Docker` };
}

/**
 * The one log line saying which runtime was chosen and why. CRI-O is served through the same CRI calls as
 * containerd, but no CRI-O could run where this was built: the line says so, so nobody mistakes it for tested.
 */
export function describeRuntimeSelection(selection: RuntimeSelection): string {
  if (selection.kind === 'docker') return `container runtime: docker (${selection.found})`;
  const name = selection.runtime === 'cri' ? 'a CRI runtime' : selection.runtime;
  const untested = selection.runtime === 'cri-o' ? '; CRI-O is read through the same CRI calls as containerd, checked against its source but never against a running CRI-O: please report what differs' : '';
  return `container runtime: ${name} through CRI (${selection.found})${untested}`;
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
    log.info(describeRuntimeSelection(selection), { docker_host: selection.dockerHost });
    const inventory = createDockerInventory({ dockerHost: selection.dockerHost, log, ...(options.dockerResyncMs ? { resyncMs: options.dockerResyncMs } : {}), ...(signal ? { signal } : {}) });
    return Object.assign(inventory, { selection });
  }
  log.info(describeRuntimeSelection(selection), { endpoint: selection.endpoint });
  const inventory = createCriInventory({ endpoint: selection.endpoint, log, ...(options.criPollMs ? { pollMs: options.criPollMs } : {}), ...(signal ? { signal } : {}) });
  if (!selection.detected) return Object.assign(inventory, { selection });
  const dockerHost = options.dockerHost ?? DEFAULT_DOCKER_HOST;
  const startDocker = () => createDockerInventory({ dockerHost, log, ...(options.dockerResyncMs ? { resyncMs: options.dockerResyncMs } : {}), ...(signal ? { signal } : {}) });
  return Object.assign(withDockerFallback(inventory, startDocker, log, selection.endpoint), { selection });
}

/**
 * Like {@link createContainerInventory}, but shared through the plugin context: Docker's inventory is the process's
 * one per Docker host (`acquireDockerInventory`), a CRI runtime's the process's one per endpoint. Holds are released
 * when the plugin instance closes (or by `close()`).
 */
export function acquireContainerInventory(ctx: DockerInventoryContext, options: Omit<ContainerInventoryOptions, 'log' | 'signal'>): ContainerInventory<RuntimeContainerRecord> & { selection: RuntimeSelection } {
  const selection = selectContainerRuntime(options);
  const { log } = ctx;
  if (selection.kind === 'docker') {
    log.info(describeRuntimeSelection(selection), { docker_host: selection.dockerHost });
    const inventory = acquireDockerInventory(ctx, { dockerHost: selection.dockerHost, ...(options.dockerResyncMs ? { resyncMs: options.dockerResyncMs } : {}) });
    return Object.assign(inventory, { selection });
  }
  log.info(describeRuntimeSelection(selection), { endpoint: selection.endpoint });
  // A detected socket may turn out not to speak CRI (then Docker is followed): a key of its own, so a plugin that
  // named the endpoint explicitly never shares the fallback.
  const key = `cri-inventory:${selection.endpoint}${selection.detected ? ':auto' : ''}`;
  const lease = ctx.shared(key, () => {
    const sharedLog = log.child({ plugin: undefined, shared: key });
    const inventory = createCriInventory({ endpoint: selection.endpoint, log: sharedLog, ...(options.criPollMs ? { pollMs: options.criPollMs } : {}) });
    if (!selection.detected) return inventory;
    const dockerHost = options.dockerHost ?? DEFAULT_DOCKER_HOST;
    const startDocker = () => createDockerInventory({ dockerHost, log: sharedLog, ...(options.dockerResyncMs ? { resyncMs: options.dockerResyncMs } : {}) });
    return withDockerFallback(inventory, startDocker, sharedLog, selection.endpoint);
  });
  const shared = lease.value;
  return {
    containers: () => shared.containers(),
    status: () => shared.status(),
    ready: () => shared.ready(),
    close: () => lease.release(),
    selection,
  };
}
