import type { Logger } from '@scope-plugins/core';
import type { ContainerRecord } from '@scope-plugins/docker';
import type { ContainerInventory, CriInventory } from './inventory.js';
import type { CriContainerRecord } from './record.js';

/**
 * For `auto` when it found only containerd's (or CRI-O's) default socket: if the first answer says the socket's
 * server does not speak CRI (`UNIMPLEMENTED` — Docker's own containerd, whose CRI plugin Docker disables, on a
 * Docker host whose Docker was not up yet), follow Docker instead, with one log line. Any other first outcome
 * (up, or down for another reason such as a restart) keeps CRI.
 */
export function withDockerFallback(
  cri: CriInventory,
  startDocker: () => ContainerInventory<ContainerRecord>,
  log: Logger,
  endpoint: string,
): ContainerInventory<CriContainerRecord | ContainerRecord> {
  let current: ContainerInventory<CriContainerRecord | ContainerRecord> = cri;
  let closed = false;
  const ready = (async () => {
    await cri.ready();
    if (closed || cri.failureCode() !== 'UNIMPLEMENTED') return;
    await cri.close();
    // Checked again: close() may have been called while the CRI inventory was closing.
    if (closed) return;
    log.info(`container runtime: docker after all (${endpoint} does not serve CRI: Docker's own containerd); following Docker`, { endpoint });
    current = startDocker();
    await current.ready();
  })();
  return {
    containers: () => current.containers(),
    status: () => current.status(),
    ready: () => ready,
    async close() {
      closed = true;
      await current.close();
      // A switch under way finishes first; then whatever it started is closed too.
      await ready.catch(() => undefined);
      await current.close();
    },
  };
}
