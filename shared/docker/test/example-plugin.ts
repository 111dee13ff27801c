import { definePlugin, hostNodeId } from '@scope-plugins/core';
import { acquireDockerInventory, dockerOptions } from '../src/index.js';

/**
 * A fifth plugin, written only against the public APIs of core (option schema, plugin context) and of this
 * package (shared inventory): the proof that a Docker-using plugin needs no change to core. It puts, on the
 * host node, how many containers are in each of the states it is asked to count.
 */
export function createContainerStatesPlugin(id = 'container-states') {
  const prefix = `${id.replace(/-/g, '_')}_`;
  return definePlugin({
    id,
    label: 'Container states',
    description: 'Containers per state, from the shared Docker inventory',
    intervalMs: 200,
    topologies: {
      Host: { metadataTemplates: [{ id: `${prefix}running`, label: 'Running containers', dataType: 'number', from: 'latest', priority: 30 }] },
    },
    options: {
      states: { type: 'list', values: ['created', 'running', 'paused', 'exited'], default: ['running', 'exited'], description: 'states to count' },
      ...dockerOptions,
    },
    create(ctx) {
      // ctx.options.states: ('created' | 'running' | 'paused' | 'exited')[]; dockerHost: string; dockerResyncMs: number.
      const inventory = acquireDockerInventory(ctx, { dockerHost: ctx.options.dockerHost, resyncMs: ctx.options.dockerResyncMs });
      return {
        collect({ report, hostId }) {
          const node = report.topology('Host').node(hostNodeId(hostId));
          for (const state of ctx.options.states) {
            node.latest(`${prefix}${state}`, [...inventory.containers().values()].filter((c) => c.state === state).length);
          }
        },
        ready: () => inventory.ready(),
      };
    },
  });
}
