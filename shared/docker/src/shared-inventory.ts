import type { AcquireShared, Logger } from '@scope-plugins/core';
import { DEFAULT_DOCKER_HOST, formatDockerEndpoint, parseDockerHost } from './docker-host.js';
import { createDockerInventory, type DockerInventory, type DockerInventoryOptions } from './inventory.js';

/** What {@link acquireDockerInventory} needs from a plugin context. */
export interface DockerInventoryContext {
  shared: AcquireShared;
  log: Logger;
}

/** Options of {@link acquireDockerInventory}: the endpoint and the inventory's settings (first holder's win). */
export type SharedDockerInventoryOptions = Omit<DockerInventoryOptions, 'log' | 'signal'>;

/** The key under which the inventory of `dockerHost` is shared. */
export function dockerInventoryKey(dockerHost: string = DEFAULT_DOCKER_HOST): string {
  return `docker-inventory:${formatDockerEndpoint(parseDockerHost(dockerHost))}`;
}

interface SharedInventory {
  inventory: DockerInventory;
  resyncMs: number | undefined;
  close(): Promise<void>;
}

/**
 * The process's one inventory of the Docker engine at `options.dockerHost`, shared by every plugin that asks
 * for the same endpoint (one event stream, one resync loop, one "Docker unreachable" line). The first holder
 * creates it; it stops when the last holder's plugin instance closes. The returned inventory's `close()` only
 * lets go of this plugin's hold (core does that anyway when the instance closes).
 */
export function acquireDockerInventory(ctx: DockerInventoryContext, options: SharedDockerInventoryOptions = {}): DockerInventory {
  const key = dockerInventoryKey(options.dockerHost);
  // Logged without the first holder's plugin name: the inventory belongs to the process, not to that plugin.
  const log = ctx.log.child({ plugin: undefined, shared: key });
  const lease = ctx.shared(key, (): SharedInventory => {
    const inventory = createDockerInventory({ ...options, log });
    return { inventory, resyncMs: options.resyncMs, close: () => inventory.close() };
  });
  if (!lease.created && options.resyncMs !== undefined && lease.value.resyncMs !== undefined && lease.value.resyncMs !== options.resyncMs) {
    ctx.log.warn('the shared Docker inventory already runs with another resync interval; keeping it', { docker_host: key, resync_ms: lease.value.resyncMs, asked_ms: options.resyncMs });
  }
  const { inventory } = lease.value;
  return {
    containers: () => inventory.containers(),
    status: () => inventory.status(),
    ready: () => inventory.ready(),
    close: () => lease.release(),
  };
}
