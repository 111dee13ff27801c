#!/usr/bin/env node
// Benchmark (not a test): memory of the suite hosting all four plugins in ONE process versus the
// four plugin bins run separately. RSS is read from /proc/<pid>/status after the plugins have
// collected for a while; child processes (bpftrace) are listed apart.
// Run (root): pnpm run build && node bench/suite-memory.mjs [rounds=3] [settleMs=8000]
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const rounds = Number(process.argv[2] ?? 3);
const settleMs = Number(process.argv[3] ?? 8000);
const ids = ['host-namespaces', 'http-stats', 'iowait', 'volume-count'];
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function rssKb(pid) {
  const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
}

async function childrenOf(pid) {
  const out = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = await readFile(`/proc/${entry}/stat`, 'utf8').catch(() => '');
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    if (ppid === pid) out.push(Number(entry));
  }
  return out;
}

async function measure(commands) {
  const root = await mkdtemp(join(tmpdir(), 'sp-mem-'));
  const procs = commands.map((args) => spawn(process.execPath, [...args, '--root', root, '--log-level', 'warn'], { stdio: 'ignore' }));
  await sleep(settleMs);
  let node = 0;
  let helpers = 0;
  for (const p of procs) {
    node += await rssKb(p.pid);
    for (const c of await childrenOf(p.pid)) helpers += await rssKb(c);
  }
  for (const p of procs) p.kill('SIGTERM');
  await Promise.all(procs.map((p) => new Promise((resolve) => (p.exitCode !== null ? resolve() : p.on('exit', resolve)))));
  await rm(root, { recursive: true, force: true });
  return { node: node / 1024, helpers: helpers / 1024 };
}

const suite = [];
const separate = [];
for (let i = 0; i < rounds; i++) {
  suite.push(await measure([['suite/dist/cli.js', 'run']]));
  separate.push(await measure(ids.map((id) => [`plugins/${id}/dist/cli.js`])));
}
const row = (name, xs) => `| ${name} | ${median(xs.map((x) => x.node)).toFixed(1)} | ${median(xs.map((x) => x.helpers)).toFixed(1)} |`;
console.log(`Settle ${settleMs} ms, median of ${rounds} rounds.\n`);
console.log('| layout | Node RSS total, MiB | child processes (bpftrace) RSS, MiB |');
console.log('|---|---:|---:|');
console.log(row('`scope-plugins run` (4 plugins, 1 process)', suite));
console.log(row('4 separate bins', separate));
