#!/usr/bin/env node
// Benchmark (not a test): Node RSS of `scope-plugins run` (all four plugins in one process) polled like the Scope
// probe (GET /report on every socket once a second), side by side in one run with
//   - the floor: a bare Node HTTP server answering the same polls (bench/lib/floor-server.mjs),
//   - the suite with V8's own defaults (`node --max-semi-space-size=16 --max-opt=999`, which turns off what
//     limitV8Memory does at start-up: young generation kept at 2 x 1 MiB, no TurboFan),
//   - the four plugin bins run separately (summed).
// RSS (VmRSS, RssAnon, RssFile from /proc/<pid>/status) is sampled every second after a warm-up; the young
// generation takes a minute or more to reach its size, so one late sample says little: median and max per round,
// then the median over rounds. CPU is utime+stime of the Node process(es) over the window. Child processes
// (bpftrace) are listed apart.
// Run (root): pnpm run build && node bench/suite-memory.mjs [rounds=3] [windowS=120] [warmS=30]
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { Agent, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const rounds = Number(process.argv[2] ?? 3);
const windowS = Number(process.argv[3] ?? 120);
const warmS = Number(process.argv[4] ?? 30);
const ids = ['host-namespaces', 'http-stats', 'iowait', 'volume-count'];
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const TICK_MS = 1000 / 100;

async function status(pid) {
  const text = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
  const kb = (key) => Number(new RegExp(`^${key}:\\s+(\\d+)`, 'm').exec(text)?.[1] ?? 0);
  return { rss: kb('VmRSS') / 1024, anon: kb('RssAnon') / 1024, file: kb('RssFile') / 1024 };
}

async function cpuMs(pid) {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11] ?? 0) + Number(fields[12] ?? 0)) * TICK_MS;
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

function poll(agent, socketPath) {
  return new Promise((resolve) => {
    const req = request({ socketPath, path: '/report', agent, headers: { Host: 'scope' }, timeout: 2000 }, (res) => {
      res.resume();
      res.on('end', resolve);
    });
    req.on('error', resolve);
    req.on('timeout', () => req.destroy());
    req.end();
  });
}

// Every process this bench started, so an interrupted run stops them too (they would otherwise outlive it).
const started = new Set();
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    for (const child of started) child.kill('SIGTERM');
    process.exit(130);
  });
}

/** Starts one layout (one or more processes), polls its sockets 1/s, samples RSS 1/s. */
async function runLayout(layout) {
  const root = await mkdtemp(join(tmpdir(), 'sp-mem-'));
  const procs = layout.commands(root).map((argv) => spawn(argv[0], argv.slice(1), { stdio: 'ignore' }));
  for (const p of procs) {
    started.add(p);
    p.on('exit', () => started.delete(p));
  }
  const agent = new Agent({ keepAlive: true, maxSockets: 4 });
  const sockets = layout.sockets(root);
  const samples = [];
  let cpuStart = 0;
  let stop = false;
  const t0 = Date.now();
  const loop = (async () => {
    while (!stop) {
      const tick = Date.now();
      await Promise.all(sockets.map((s) => poll(agent, s)));
      if (Date.now() - t0 >= warmS * 1000) {
        const each = await Promise.all(procs.map((p) => status(p.pid)));
        samples.push({ rss: each.reduce((a, s) => a + s.rss, 0), anon: each.reduce((a, s) => a + s.anon, 0), file: each.reduce((a, s) => a + s.file, 0) });
      }
      await sleep(Math.max(0, 1000 - (Date.now() - tick)));
    }
  })();
  return {
    name: layout.name,
    async begin() {
      cpuStart = (await Promise.all(procs.map((p) => cpuMs(p.pid)))).reduce((a, b) => a + b, 0);
    },
    async end() {
      const cpu = (await Promise.all(procs.map((p) => cpuMs(p.pid)))).reduce((a, b) => a + b, 0) - cpuStart;
      let helpers = 0;
      for (const p of procs) for (const c of await childrenOf(p.pid)) helpers += (await status(c)).rss;
      stop = true;
      await loop;
      for (const p of procs) p.kill('SIGTERM');
      await Promise.all(procs.map((p) => new Promise((resolve) => (p.exitCode !== null ? resolve() : p.on('exit', resolve)))));
      agent.destroy();
      await rm(root, { recursive: true, force: true });
      const rss = samples.map((s) => s.rss);
      return {
        rssMedian: median(rss),
        rssMax: Math.max(...rss),
        anonMedian: median(samples.map((s) => s.anon)),
        fileMedian: median(samples.map((s) => s.file)),
        cpuMsPerMin: (cpu / windowS) * 60,
        helpers,
      };
    },
  };
}

const node = process.execPath;
const suiteSockets = (root) => ids.map((id) => join(root, id, `${id}.sock`));
const layouts = [
  { name: 'floor (bare Node HTTP server)', commands: (root) => [[node, 'bench/lib/floor-server.mjs', join(root, 'floor.sock')]], sockets: (root) => [join(root, 'floor.sock')] },
  { name: '`scope-plugins run` (4 plugins, 1 process)', commands: (root) => [[node, 'suite/dist/cli.js', 'run', '--root', root, '--log-level', 'warn']], sockets: suiteSockets },
  {
    name: 'the same with V8 defaults (`node --max-semi-space-size=16 --max-opt=999`)',
    commands: (root) => [[node, '--max-semi-space-size=16', '--max-opt=999', 'suite/dist/cli.js', 'run', '--root', root, '--log-level', 'warn']],
    sockets: suiteSockets,
  },
  { name: '4 separate bins (summed)', commands: (root) => ids.map((id) => [node, `plugins/${id}/dist/cli.js`, '--root', root, '--log-level', 'warn']), sockets: suiteSockets },
];

const results = new Map(layouts.map((l) => [l.name, []]));
for (let i = 0; i < rounds; i++) {
  // Every layout in the same window, so they share the machine's load.
  const running = await Promise.all(layouts.map(runLayout));
  await sleep(warmS * 1000);
  await Promise.all(running.map((r) => r.begin()));
  await sleep(windowS * 1000);
  for (const r of running) results.get(r.name).push(await r.end());
}
const f = (xs, key) => median(xs.map((x) => x[key])).toFixed(1);
console.log(`Polled 1/s per socket; ${warmS} s warm-up, then ${windowS} s sampled every second; median over ${rounds} rounds.\n`);
console.log('| layout | Node RSS median, MiB | Node RSS max, MiB | anon / file, MiB | Node CPU, ms/min | children (bpftrace) RSS, MiB |');
console.log('|---|---:|---:|---:|---:|---:|');
for (const [name, xs] of results) {
  console.log(`| ${name} | ${f(xs, 'rssMedian')} | ${f(xs, 'rssMax')} | ${f(xs, 'anonMedian')} / ${f(xs, 'fileMedian')} | ${f(xs, 'cpuMsPerMin')} | ${f(xs, 'helpers')} |`);
}
