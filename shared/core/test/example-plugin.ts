import { definePlugin, hostNodeId } from '../src/index.js';

/** A small plugin built only from core's public API: the proof that a plugin needs no change to core. */
export function createExamplePlugin(options: { collectDelayMs?: number; failWith?: () => string | undefined } = {}) {
  let collects = 0;
  return definePlugin({
    id: 'demo',
    label: 'Demo',
    description: 'Example plugin',
    intervalMs: 200,
    topologies: {
      Host: {
        metadataTemplates: [{ id: 'demo_mode', label: 'Demo mode', from: 'latest', priority: 1 }],
        metricTemplates: [{ id: 'demo_collects', label: 'Collections', format: 'integer', priority: 1 }],
        tableTemplates: [
          {
            id: 'demo-cpu',
            label: 'Per-CPU',
            prefix: 'demo_cpu_',
            type: 'multicolumn-table',
            columns: [
              { id: 'user', label: 'User %', dataType: 'number' },
              { id: 'iowait', label: 'IO wait %', dataType: 'number' },
            ],
          },
        ],
        controls: [
          { id: 'demo-to-busy', human: 'Switch to busy', icon: 'fa-bolt', rank: 1 },
          { id: 'demo-to-idle', human: 'Switch to idle', icon: 'fa-bed', rank: 1 },
        ],
      },
    },
    // Typed by inference: ctx.options.startMode is 'idle' | 'busy', ctx.options.cpus a number.
    options: {
      startMode: { type: 'enum', values: ['idle', 'busy'], default: 'idle', description: 'mode at start', deprecatedFlags: ['mode'], deprecatedEnv: ['DEMO_MODE'] },
      cpus: { type: 'number', integer: true, min: 1, default: 2, description: 'rows in the per-CPU table' },
      label: { type: 'string', description: 'shown as demo_label when set' },
    },
    create: (ctx) => {
      let mode: string = ctx.options.startMode;
      const rows = Object.fromEntries(Array.from({ length: ctx.options.cpus }, (_, i) => [`cpu${i}`, i === 0 ? { user: 12.5, iowait: 0.3 } : { user: 7, iowait: 2.1 }]));
      return {
        async collect({ report, hostId }) {
          if (options.collectDelayMs) await new Promise((resolve) => setTimeout(resolve, options.collectDelayMs));
          const failure = options.failWith?.();
          if (failure) throw new Error(failure);
          collects++;
          report
            .topology('Host')
            .node(hostNodeId(hostId))
            .latest('demo_mode', mode)
            .metric('demo_collects', collects, { min: 0, max: 1000 })
            .table('demo_cpu_', rows)
            .activeControls([mode === 'idle' ? 'demo-to-busy' : 'demo-to-idle']);
          if (ctx.options.label !== undefined) report.topology('Host').node(hostNodeId(hostId)).latest('demo_label', ctx.options.label);
        },
        control(request) {
          if (request.args['fail'] === 'yes') return { error: 'demo: mode change failed' };
          mode = request.control === 'demo-to-busy' ? 'busy' : 'idle';
          return { value: { mode } };
        },
      };
    },
  });
}
