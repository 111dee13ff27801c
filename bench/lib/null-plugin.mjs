// A plugin that does nothing but set one key per collection: what core alone costs at 1 Hz (bench/side-by-side.mjs).
// Run: node bench/lib/null-plugin.mjs --root <dir> (after `pnpm run build`); socket <root>/null/null.sock.
import { definePlugin, hostNodeId, runPluginCli } from '../../shared/core/dist/index.js';

const plugin = definePlugin({
  id: 'null',
  label: 'Null',
  description: 'sets one key per collection',
  intervalMs: 1000,
  topologies: { Host: { metadataTemplates: [{ id: 'null_x', label: 'X', from: 'latest', priority: 7.1 }] } },
  create: () => ({
    collect({ report, hostId }) {
      report.topology('Host').node(hostNodeId(hostId)).latest('null_x', String(Date.now()));
    },
  }),
});
await runPluginCli(plugin);
