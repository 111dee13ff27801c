#!/usr/bin/env node
// Benchmark (not a test): cost of core's per-snapshot work (build + guard + serialize) and the
// latency of GET /report over the real socket, for reports of growing size.
// Run: pnpm --filter @scope-plugins/core build && node bench/core-report.mjs
import { performance } from 'node:perf_hooks';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger, createReport, definePlugin, guardReport, pollReport, processNodeId, startPlugin } from '../shared/core/dist/index.js';

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const p99 = (xs) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * 0.99))];

function fill(report, nodes) {
  const topology = report.topology('Process');
  topology.metricTemplate({ id: 'bench_rps', label: 'Req/s', priority: 1 });
  for (let pid = 1; pid <= nodes; pid++) {
    topology
      .node(processNodeId('bench', pid))
      .latest('bench_total', pid * 3)
      .latest('bench_method', 'GET')
      .metric('bench_rps', pid % 100, { min: 0, max: 100 });
  }
}

const rows = [];
for (const nodes of [10, 100, 1000, 5000]) {
  const times = [];
  let bytes = 0;
  for (let i = 0; i < 15; i++) {
    const t0 = performance.now();
    const report = createReport();
    fill(report, nodes);
    const full = { Plugins: [{ id: 'bench', label: 'Bench', interfaces: ['reporter'], api_version: '1' }], ...report.build() };
    const { report: guarded } = guardReport(full, { pluginId: 'bench', hostId: 'bench' });
    bytes = JSON.stringify(guarded).length;
    times.push(performance.now() - t0);
  }

  const root = await mkdtemp(join(tmpdir(), 'sp-bench-'));
  const plugin = definePlugin({ id: 'bench', label: 'Bench', description: 'bench', create: () => ({ collect: ({ report }) => fill(report, nodes) }) });
  const running = await startPlugin(plugin, { root, hostId: 'bench', log: createLogger({ level: 'silent' }) });
  await running.collectNow();
  const latencies = [];
  for (let i = 0; i < 200; i++) {
    const poll = await pollReport(running.socketPath, 'bench', 2000);
    if (!poll.ok || poll.statusCode !== 200) throw new Error('poll failed');
    latencies.push(poll.elapsedMs);
  }
  await running.stop();
  await rm(root, { recursive: true, force: true });
  rows.push({ nodes, bytes, snapshotMedianMs: median(times), reportMedianMs: median(latencies), reportP99Ms: p99(latencies) });
}

console.log('| nodes | report bytes | build+guard+serialize per snapshot, median ms | GET /report median ms | GET /report p99 ms |');
console.log('|---:|---:|---:|---:|---:|');
for (const r of rows) console.log(`| ${r.nodes} | ${r.bytes} | ${r.snapshotMedianMs.toFixed(2)} | ${r.reportMedianMs.toFixed(2)} | ${r.reportP99Ms.toFixed(2)} |`);
