#!/usr/bin/env node
// Benchmark (not a test): the volume-count plugin against a real, isolated dockerd with N containers
// (created, not started; each with a named volume, an anonymous volume, a bind and two tmpfs mounts):
// full sync time (list + inspect all), memory held by the inventory, event-to-inventory latency, and
// GET /report latency and size over the plugin's real socket.
// Run: pnpm --filter @scope-plugins/core build && pnpm --filter @scope-plugins/docker build \
//      && pnpm --filter @scope-plugins/volume-count build && node --expose-gc bench/volume-count.mjs [N...]
import { performance } from 'node:perf_hooks';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger, pollReport, startPlugin } from '../shared/core/dist/index.js';
import { createDockerClient, createDockerInventory } from '../shared/docker/dist/index.js';
import { startTestDockerd } from '../shared/docker/dist/testing/index.js';
import { plugin } from '../plugins/volume-count/dist/index.js';

const IMAGE = 'scope-plugins-test/busybox:latest';
const counts = process.argv.slice(2).map(Number).filter((n) => n > 0);
const sizes = counts.length > 0 ? counts : [50, 200];
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const p99 = (xs) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * 0.99))];
const log = createLogger({ level: 'silent' });
const gc = () => globalThis.gc?.();

const dockerd = await startTestDockerd({ images: [IMAGE] });
const bind = await mkdtemp(join(tmpdir(), 'vcb-'));
const rows = [];
let created = 0;
try {
  for (const n of sizes) {
    // Containers are created in parallel batches: the CLI costs ~100 ms per call.
    while (created < n) {
      const batch = [];
      for (let i = 0; i < 10 && created < n; i++, created++) {
        batch.push(dockerd.docker(['create', '--name', `bench-${created}`, '-v', `bench-vol-${created % 5}:/data`, '-v', '/anon', '-v', `${bind}:/bind:ro`, '--tmpfs', '/scratch:size=1m', '--mount', 'type=tmpfs,destination=/mtmp', IMAGE]));
      }
      await Promise.all(batch);
    }

    const syncMs = [];
    const heapBytes = [];
    for (let run = 0; run < 7; run++) {
      gc();
      const heapBefore = process.memoryUsage().heapUsed;
      const t0 = performance.now();
      const inventory = createDockerInventory({ dockerHost: dockerd.dockerHost, log });
      await inventory.ready();
      syncMs.push(performance.now() - t0);
      if (inventory.containers().size !== n) throw new Error(`expected ${n} containers, got ${inventory.containers().size}`);
      gc();
      heapBytes.push(process.memoryUsage().heapUsed - heapBefore);
      await inventory.close();
    }

    // Event latency: POST /containers/create sent → the inventory holds the new container (includes the
    // create call itself; the docker CLI is not used here because it returns long after the event).
    const inventory = createDockerInventory({ dockerHost: dockerd.dockerHost, log });
    await inventory.ready();
    const client = createDockerClient({ dockerHost: dockerd.dockerHost });
    const eventMs = [];
    const apiMs = [];
    for (let i = 0; i < 10; i++) {
      const t0 = performance.now();
      const container = await client.createContainer({ name: `bench-event-${n}-${i}`, Image: IMAGE, HostConfig: { NetworkMode: 'none' } });
      apiMs.push(performance.now() - t0);
      while (!inventory.containers().has(container.id) && performance.now() - t0 < 5000) await new Promise((r) => setTimeout(r, 1));
      eventMs.push(performance.now() - t0);
      await container.remove();
    }
    await inventory.close();

    const root = await mkdtemp(join(tmpdir(), 'vcr-'));
    const running = await startPlugin(plugin, { root, hostId: 'bench', log, options: { dockerHost: dockerd.dockerHost, dockerResyncMs: 30000 } });
    // The socket no longer waits for Docker's first list: measure once the containers are in the report.
    for (let i = 0; i < 200 && Object.keys((await running.collectNow()).Container?.nodes ?? {}).length === 0; i++) await new Promise((resolve) => setTimeout(resolve, 50));
    const latencies = [];
    let bytes = 0;
    for (let i = 0; i < 200; i++) {
      const poll = await pollReport(running.socketPath, 'bench', 2000);
      if (!poll.ok || poll.statusCode !== 200) throw new Error('poll failed');
      latencies.push(poll.elapsedMs);
      bytes = poll.body.length;
    }
    const collectMs = [];
    for (let i = 0; i < 15; i++) {
      const t0 = performance.now();
      await running.collectNow();
      collectMs.push(performance.now() - t0);
    }
    await running.stop();
    await rm(root, { recursive: true, force: true });
    rows.push({ n, syncMs: median(syncMs), heapKiB: median(heapBytes) / 1024, eventMs: median(eventMs), eventMax: Math.max(...eventMs), apiMs: median(apiMs), collectMs: median(collectMs), bytes, reportMs: median(latencies), reportP99: p99(latencies) });
  }
} finally {
  await dockerd.dispose();
  await rm(bind, { recursive: true, force: true });
}

console.log('| containers | full sync (list + inspect all), median of 7, ms | inventory heap, median KiB | create request sent → in inventory, median / max of 10, ms (create call alone, median) | collect + guard + serialize, median ms | report bytes | GET /report median ms | GET /report p99 ms |');
console.log('|---:|---:|---:|---:|---:|---:|---:|---:|');
for (const r of rows) {
  console.log(`| ${r.n} | ${r.syncMs.toFixed(1)} | ${r.heapKiB.toFixed(0)} | ${r.eventMs.toFixed(1)} / ${r.eventMax.toFixed(1)} (${r.apiMs.toFixed(1)}) | ${r.collectMs.toFixed(2)} | ${r.bytes} | ${r.reportMs.toFixed(2)} | ${r.reportP99.toFixed(2)} |`);
}
