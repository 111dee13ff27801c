#!/usr/bin/env node
// Benchmark (not a test): cost of one iowait read/collection and the latency of GET /report and of a
// control (switch → shortcut report) over the real socket.
// Run: cd /work/main && pnpm --filter @scope-plugins/core build && pnpm --filter @scope-plugins/iowait build && node bench/iowait.mjs
import { copyFile, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import si from '../plugins/iowait/node_modules/systeminformation/lib/index.js';
import { createLogger, hostNodeId, pollReport, requestPlugin, startPlugin } from '../shared/core/dist/index.js';
import { createIowaitReader, plugin, readBlockDeviceInfo } from '../plugins/iowait/dist/index.js';

const quantile = (xs, q) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * q))];
const log = createLogger({ level: 'silent' });
const rows = [];

async function time(name, runs, fn) {
  await fn(); // warm-up
  const walls = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    const inner = await fn();
    // A function may time its own core (to leave out a wait it needs).
    walls.push(typeof inner === 'number' ? inner : performance.now() - t0);
  }
  rows.push({ name, runs, median: quantile(walls, 0.5), p90: quantile(walls, 0.9), p99: quantile(walls, 0.99) });
}

// 1. One host read (stat + diskstats + PSI + partition check), every read computing deltas.
const exclude = /^(loop|ram|zram)[0-9]+$/;
const real = createIowaitReader({ procRoot: '/proc', sysRoot: '/sys', log, diskExclude: exclude, minSampleMs: 0 });
await time('reader.read() on the real /proc (10 devices)', 500, () => real.read());

// 2. Same on a copy of the 109-device fixture (the files do not change, so rates are 0; parsing is the cost).
const fake = await mkdtemp(join(tmpdir(), 'iowait-bench-'));
await mkdir(join(fake, 'pressure'));
const fixtures = new URL('../plugins/iowait/test/fixtures/', import.meta.url);
await copyFile(new URL('proc-stat.txt', fixtures), join(fake, 'stat'));
await copyFile(new URL('diskstats-many.txt', fixtures), join(fake, 'diskstats'));
await copyFile(new URL('pressure-io.txt', fixtures), join(fake, 'pressure', 'io'));
const many = createIowaitReader({ procRoot: fake, sysRoot: '/sys', log, diskExclude: exclude, minSampleMs: 0 });
await time('reader.read() on the 109-device fixture', 500, () => many.read());
await rm(fake, { recursive: true, force: true });

// 3. The metadata source (read again when the device list changes, else every 5 min), and the library call not used.
await time('readBlockDeviceInfo() (sysfs), background: when the device list changes, else every 5 min', 20, () => readBlockDeviceInfo());
await time('systeminformation.currentLoad() (not used; execSync cat /proc/stat)', 20, async () => {
  await new Promise((resolve) => setTimeout(resolve, 210)); // it caches results younger than 200 ms
  const t0 = performance.now();
  await si.currentLoad();
  return performance.now() - t0;
});

// 4. Over the socket: a full collection (read + build + guard + serialize), GET /report, and a control.
const root = await mkdtemp(join(tmpdir(), 'sp-bench-'));
const running = await startPlugin(plugin, { root, hostId: 'bench', log, options: { diskInfo: false } });
await new Promise((resolve) => setTimeout(resolve, 1500));
await time('collection (read + build + guard + serialize)', 100, () => running.collectNow());
const body = JSON.stringify(running.currentReport());
await time('GET /report over the socket', 500, async () => {
  const poll = await pollReport(running.socketPath, 'bench', 2000);
  if (!poll.ok || poll.statusCode !== 200) throw new Error(`poll failed: ${poll.error ?? poll.statusCode}`);
});
let toIdle = true;
await time('POST /control switch (re-collect + shortcut report)', 50, async () => {
  const control = toIdle ? 'switchToIdle' : 'switchToIOWait';
  toIdle = !toIdle;
  const payload = JSON.stringify({ AppID: 'bench', Control: control, ControlArgs: null, NodeID: hostNodeId('bench') });
  const answer = await requestPlugin(running.socketPath, { method: 'POST', path: '/control?api_version=1&probe_id=bench', body: payload, timeoutMs: 2000 });
  if (!answer.ok || !answer.body.includes('shortcutReport')) throw new Error(`control failed: ${answer.body ?? answer.error}`);
});
await running.stop();
await rm(root, { recursive: true, force: true });

console.log(`report bytes: ${body.length}`);
console.log('| what | runs | median ms | p90 ms | p99 ms |');
console.log('|---|---:|---:|---:|---:|');
for (const r of rows) console.log(`| ${r.name} | ${r.runs} | ${r.median.toFixed(3)} | ${r.p90.toFixed(3)} | ${r.p99.toFixed(3)} |`);
