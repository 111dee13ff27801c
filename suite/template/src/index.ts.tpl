/**
 * The {{id}} plugin: one definition. @scope-plugins/core does the socket, HTTP, scheduling, caching,
 * deadlines, the report guard, logging and signals; this file says what is shown and how it is read.
 *
 * It starts as the host's load average from /proc/loadavg: replace parse.ts and collect.ts with your
 * own source, and the templates below with what you show.
 */
import { availableParallelism } from 'node:os';
import { definePlugin, hostNodeId } from '@scope-plugins/core';
import { readLoadavg } from './collect.js';

export { parseLoadavg, type LoadAverage } from './parse.js';
export { readLoadavg } from './collect.js';

/** Keys written on the host node. Prefixed with the plugin id: Scope merges the keys of every plugin into one node. */
export const KEYS = {
  load1: '{{key}}_load1',
  load5: '{{key}}_load5',
  load15: '{{key}}_load15',
  tasks: '{{key}}_tasks',
  runnable: '{{key}}_runnable',
} as const;

/** The {{id}} plugin definition. */
export const plugin = definePlugin({
  id: '{{id}}',
  label: '{{label}}',
  description: 'Load average of the host, from /proc/loadavg',
  intervalMs: 2000,
  options: {
    decimals: { type: 'number', integer: true, min: 0, default: 2, description: 'decimals shown for the load averages' },
  },
  topologies: {
    Host: {
      // Priorities below 10 show in the details panel, 10 and above behind "show more". Two rows with
      // one priority swap places between refreshes: keep clear of the probe's own rows (PROBE_PRIORITIES).
      metadataTemplates: [
        { id: KEYS.load1, label: 'Load (1 min)', dataType: 'number', from: 'latest', priority: 7.1 },
        { id: KEYS.load5, label: 'Load (5 min)', dataType: 'number', from: 'latest', priority: 7.2 },
        { id: KEYS.load15, label: 'Load (15 min)', dataType: 'number', from: 'latest', priority: 7.3 },
        { id: KEYS.tasks, label: 'Runnable / tasks', from: 'latest', priority: 7.4 },
      ],
      // The probe already graphs the 1-minute load; this graphs what it does not: tasks ready to run.
      metricTemplates: [{ id: KEYS.runnable, label: 'Runnable tasks', format: 'integer', priority: 7.1 }],
    },
  },
  create: (ctx) => {
    // Validated by core from --decimals / SCOPE_{{ENV}}_DECIMALS (suite: --{{id}}.decimals): a whole number >= 0.
    const { decimals } = ctx.options;
    return {
      async collect({ report, hostId, signal }) {
        const load = await readLoadavg(ctx.procRoot, signal);
        report
          .topology('Host')
          .node(hostNodeId(hostId))
          .latest(KEYS.load1, load.load1.toFixed(decimals))
          .latest(KEYS.load5, load.load5.toFixed(decimals))
          .latest(KEYS.load15, load.load15.toFixed(decimals))
          .latest(KEYS.tasks, `${load.runnable} / ${load.tasks}`)
          // The graph's top: the number of CPUs (more runnable tasks than CPUs means some wait), or the count if higher.
          .metric(KEYS.runnable, load.runnable, { min: 0, max: Math.max(availableParallelism(), load.runnable) });
      },
    };
  },
});
