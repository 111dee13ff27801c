import { readdir } from 'node:fs/promises';
import { hostNodeId } from '../protocol/ids.js';
import type { TopologyKey } from '../protocol/topologies.js';
import { readContainerIdOfPid } from '../proc/cgroup.js';

/**
 * Which nodes a Scope probe on this host reports itself, read from `procRoot`: this host's host node,
 * every live process, and every container that has a live process. A plugin node without `id` merges
 * with such a node and shows; any other one is lost. (A stopped container is not seen here.)
 */
export async function readProbeNodes(hostId: string, procRoot = '/proc'): Promise<(key: TopologyKey, nodeId: string) => boolean> {
  const pids = new Set<number>();
  const containers = new Set<string>();
  const entries = await readdir(procRoot).catch(() => [] as string[]);
  for (const name of entries) {
    if (!/^[1-9][0-9]*$/.test(name)) continue;
    const pid = Number(name);
    pids.add(pid);
    const container = await readContainerIdOfPid(procRoot, pid);
    if (container) containers.add(container);
  }
  return (key, nodeId) => {
    const [head, tail] = [nodeId.slice(0, nodeId.indexOf(';')), nodeId.slice(nodeId.indexOf(';') + 1)];
    if (key === 'Host') return nodeId === hostNodeId(hostId);
    if (key === 'Process') return head === hostId && pids.has(Number(tail));
    if (key === 'Container') return tail === '<container>' && containers.has(head);
    return false;
  };
}
