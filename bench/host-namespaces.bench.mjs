#!/usr/bin/env node
// Benchmark (not a test): the two namespace sources of @scope-plugins/host-namespaces, per refresh.
//   cd /work/main && pnpm --filter @scope-plugins/host-namespaces build && node bench/host-namespaces.bench.mjs [runs] [extraUnshares]
// For each scenario it reads the namespaces `runs` times with each source, alternating, and reports the
// median / p90 wall time and the mean CPU per refresh (this process + reaped children, i.e. lsns).
// Scenario "busy" first starts `extraUnshares` unshare trees (5 new namespaces and 2 processes each).
import { spawn } from 'node:child_process';
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { readlink } from 'node:fs/promises';
import { performance } from 'node:perf_hooks';
import { setTimeout as delay } from 'node:timers/promises';
import { buildNamespaceTable, readNamespacesFromProc, readNamespacesWithLsns } from '../plugins/host-namespaces/dist/index.js';

const runs = Number(process.argv[2] ?? 100);
const extraUnshares = Number(process.argv[3] ?? 200);
const CLK_TCK = 100; // getconf CLK_TCK on Linux x86_64/arm64

/** CPU ms used so far by this process (µs precision) and by its reaped children (lsns; 10 ms ticks). */
function cpuMs() {
  const own = process.cpuUsage();
  // /proc/self/stat: fields after the ")" — cutime and cstime are the 14th and 15th of them.
  const stat = readFileSync('/proc/self/stat', 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const children = ((Number(fields[13]) + Number(fields[14])) * 1000) / CLK_TCK;
  return { own: (own.user + own.system) / 1000, children };
}

const quantile = (values, q) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
};

async function measure(name, read) {
  await read(); // warm-up
  const walls = [];
  const cpu0 = cpuMs();
  let count = 0;
  for (let i = 0; i < runs; i++) {
    const start = performance.now();
    const scan = await read();
    walls.push(performance.now() - start);
    count = scan.namespaces.length;
  }
  const cpu1 = cpuMs();
  return {
    name,
    namespaces: count,
    medianMs: quantile(walls, 0.5),
    p90Ms: quantile(walls, 0.9),
    cpuOwnMs: (cpu1.own - cpu0.own) / runs,
    cpuChildMs: (cpu1.children - cpu0.children) / runs,
  };
}

/** The raw link reads alone, both ways: why the walk uses readlinkSync in batches. */
async function linkReads() {
  const types = ['mnt', 'net', 'pid', 'uts', 'ipc', 'user', 'cgroup', 'time'];
  const pids = readdirSync('/proc').filter((name) => /^\d+$/.test(name));
  const sync = () => {
    for (const pid of pids) for (const type of types) try { readlinkSync(`/proc/${pid}/ns/${type}`); } catch { /* gone or denied */ }
    return { namespaces: [] };
  };
  const parallel = async () => {
    for (let i = 0; i < pids.length; i += 32) {
      await Promise.all(pids.slice(i, i + 32).flatMap((pid) => types.map((type) => readlink(`/proc/${pid}/ns/${type}`).catch(() => undefined))));
    }
    return { namespaces: [] };
  };
  return [await measure('raw links: readlinkSync', sync), await measure('raw links: fs.promises.readlink ×32', parallel)];
}

async function scenario(label) {
  const processes = readFileSync('/proc/loadavg', 'utf8').split(' ')[3];
  const results = [
    await measure('proc walk', () => readNamespacesFromProc('/proc')),
    await measure('lsns --json', () => readNamespacesWithLsns()),
    ...(await linkReads()),
  ];
  // The table build is the same for both sources; measured once for scale.
  const scan = await readNamespacesFromProc('/proc');
  const t0 = performance.now();
  for (let i = 0; i < runs; i++) buildNamespaceTable(scan.namespaces, { maxRows: 200 });
  const tableMs = (performance.now() - t0) / runs;
  console.log(`\n### ${label} (runnable/total tasks ${processes}, ${scan.processes} processes)\n`);
  console.log('| source | namespaces | median ms | p90 ms | CPU ms/refresh (node) | CPU ms/refresh (child) |');
  console.log('|---|---:|---:|---:|---:|---:|');
  for (const r of results) {
    console.log(`| ${r.name} | ${r.namespaces} | ${r.medianMs.toFixed(2)} | ${r.p90Ms.toFixed(2)} | ${r.cpuOwnMs.toFixed(2)} | ${r.cpuChildMs.toFixed(2)} |`);
  }
  console.log(`\nbuildNamespaceTable (max 200 rows): ${tableMs.toFixed(3)} ms per refresh`);
}

console.log(`host-namespaces bench: ${runs} refreshes per source and scenario; node ${process.version}; ${new Date().toISOString()}`);
await scenario('idle host');

const children = [];
for (let i = 0; i < extraUnshares; i++) {
  children.push(spawn('unshare', ['--uts', '--ipc', '--net', '--pid', '--fork', '--mount-proc', '--kill-child', 'sleep', '600'], { stdio: 'ignore' }));
}
try {
  await delay(2000);
  await scenario(`busy host (+${extraUnshares} unshare trees)`);
} finally {
  for (const child of children) child.kill('SIGKILL');
}
