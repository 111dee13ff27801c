#!/usr/bin/env node
// Benchmark (not a test): what `--metrics-listen` costs. Three suites (`scope-plugins run`, all four plugins) run
// side by side in the same window, each polled like the Scope probe (GET /report per socket, once a second):
//   off      no --metrics-listen (no TCP listener at all)
//   on       --metrics-listen, never scraped (the sink writes per collection, nothing renders)
//   scraped  --metrics-listen, GET /metrics once a second (15x Prometheus' default rate: the worst realistic case)
// Per window: CPU = utime+stime of the suite process and of its descendants (bpftrace) from /proc/<pid>/stat, in
// ms per minute; RSS = VmRSS of the suite process at the end of the window; for "scraped", the page size and the
// client-side time of one scrape. Subjects start in a rotated order each round so none always starts first.
// Run (root, after `pnpm run build`): node bench/metrics.mjs   (ROUNDS=3 WINDOW_S=30), or BENCH=metrics pnpm bench.
// Writes bench/results/metrics.json and bench/results/metrics.md.
import { spawn } from 'node:child_process';
import { Agent, request } from 'node:http';
import { createServer } from 'node:net';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { cpuDelta, rssTree, snapshotTree } from './lib/proc.mjs';
import { describeRun, describeRunMarkdown, formatSpread, spread } from './lib/stats.mjs';

const ROUNDS = Number(process.env.ROUNDS ?? 3);
const WINDOW_S = Number(process.env.WINDOW_S ?? 30);
const here = (p) => fileURLToPath(new URL(p, import.meta.url));
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const COMMAND = 'BENCH=metrics pnpm bench (or: node bench/metrics.mjs; ROUNDS, WINDOW_S)';
const PLUGINS = ['host-namespaces', 'http-stats', 'iowait', 'volume-count'];
const SUBJECTS = [
  { name: 'off (no --metrics-listen)', metrics: false, scrape: false },
  { name: 'on, not scraped', metrics: true, scrape: false },
  { name: 'on, scraped at 1 Hz', metrics: true, scrape: true },
];

const started = new Set();
function killAll() {
  for (const child of started) child.kill('SIGKILL');
}
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    killAll();
    process.exit(130);
  });
}

function freePort() {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
}

async function start(subject, root) {
  const port = subject.metrics ? await freePort() : undefined;
  const args = [here('../suite/dist/cli.js'), 'run', '--root', root, '--log-level', 'warn', ...(port ? ['--metrics-listen', String(port)] : [])];
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'inherit'] });
  started.add(child);
  child.once('exit', () => started.delete(child));
  return { ...subject, child, root, port, agent: new Agent({ keepAlive: true, maxSockets: 1 }), metricsAgent: new Agent({ keepAlive: true, maxSockets: 1 }), scrapes: [] };
}

function get(options) {
  return new Promise((resolve) => {
    const req = request({ ...options, timeout: 2000 }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
      res.on('error', () => resolve(''));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(''));
    req.end();
  });
}
const poll = (r, id) => get({ socketPath: join(r.root, id, `${id}.sock`), path: '/report', agent: r.agent, headers: { Host: 'plugin' } });
const scrape = (r) => get({ host: '127.0.0.1', port: r.port, path: '/metrics', agent: r.metricsAgent, headers: { Accept: 'application/openmetrics-text; version=1.0.0' } });

async function waitReady(running, timeoutMs = 120_000) {
  const deadline = Date.now() + timeoutMs;
  for (const r of running) {
    for (const id of PLUGINS) {
      for (;;) {
        const body = await poll(r, id);
        if (body !== '' && (id !== 'http-stats' || body.includes('running (bpftrace pid'))) break;
        if (Date.now() > deadline) throw new Error(`${r.name}: ${id} not ready after ${timeoutMs} ms: ${body.slice(0, 300)}`);
        await sleep(250);
      }
    }
  }
}

async function stop(running) {
  await Promise.all(
    running.map(
      (r) =>
        new Promise((resolve) => {
          if (r.child.exitCode !== null || r.child.signalCode !== null) return resolve();
          const timer = setTimeout(() => r.child.kill('SIGKILL'), 5000);
          r.child.once('exit', () => {
            clearTimeout(timer);
            resolve();
          });
          r.child.kill('SIGTERM');
        }),
    ),
  );
  for (const r of running) {
    r.agent.destroy();
    r.metricsAgent.destroy();
  }
}

async function runWindow(round) {
  const base = mkdtempSync(join(tmpdir(), 'sp-bench-metrics-'));
  // Rotate the start order so start-up contention does not always favour the same subject.
  const order = SUBJECTS.map((_, i) => SUBJECTS[(i + round) % SUBJECTS.length]);
  const running = [];
  try {
    for (const [i, s] of order.entries()) running.push(await start(s, join(base, String(i))));
    await waitReady(running);
    const tick = async () => {
      await Promise.all(
        running.flatMap((r) => [
          ...PLUGINS.map((id) => poll(r, id)),
          ...(r.scrape
            ? [
                (async () => {
                  const t = performance.now();
                  const body = await scrape(r);
                  r.scrapes.push({ ms: performance.now() - t, bytes: Buffer.byteLength(body), series: body.split('\n').filter((l) => l !== '' && !l.startsWith('#')).length });
                })(),
              ]
            : []),
        ]),
      );
    };
    for (let i = 0; i < 5; i++) {
      await tick();
      await sleep(1000);
    }
    for (const r of running) r.scrapes = [];
    const before = running.map((r) => snapshotTree(r.child.pid));
    const t0 = Date.now();
    for (let i = 0; i < WINDOW_S; i++) {
      const next = t0 + (i + 1) * 1000;
      await tick();
      await sleep(Math.max(0, next - Date.now()));
    }
    const seconds = (Date.now() - t0) / 1000;
    const rows = running.map((r, i) => {
      const cpu = cpuDelta(before[i], snapshotTree(r.child.pid));
      const rss = rssTree(r.child.pid);
      const perMin = (ms) => (ms * 60) / seconds;
      const scrapeMs = r.scrapes.map((s) => s.ms).sort((a, b) => a - b);
      return {
        subject: r.name,
        cpuMsPerMin: perMin(cpu.processMs + cpu.childrenMs),
        processCpuMsPerMin: perMin(cpu.processMs),
        rssMiB: rss.processKb / 1024,
        ...(r.scrape ? { scrapeMedianMs: scrapeMs[Math.floor(scrapeMs.length / 2)], pageBytes: r.scrapes.at(-1)?.bytes, pageSeries: r.scrapes.at(-1)?.series } : {}),
      };
    });
    const off = rows.find((row) => row.subject === SUBJECTS[0].name);
    for (const row of rows) {
      row.processCpuDeltaMsPerMin = row.processCpuMsPerMin - off.processCpuMsPerMin;
      row.rssDeltaMiB = row.rssMiB - off.rssMiB;
    }
    return { seconds, rows: SUBJECTS.map((s) => rows.find((row) => row.subject === s.name)) };
  } finally {
    await stop(running);
    rmSync(base, { recursive: true, force: true });
  }
}

const run = describeRun();
const results = [];
try {
  for (let round = 0; round < ROUNDS; round++) {
    const result = await runWindow(round);
    console.error(`round ${round + 1}/${ROUNDS}: ${result.rows.map((r) => `${r.subject} ${r.processCpuMsPerMin.toFixed(0)} ms/min node, ${r.rssMiB.toFixed(1)} MiB`).join('; ')}`);
    results.push({ round, ...result });
    await sleep(1000);
  }
} finally {
  killAll();
}

const summary = SUBJECTS.map((s) => {
  const rows = results.map((r) => r.rows.find((row) => row.subject === s.name));
  const of = (key) => (rows[0][key] === undefined ? undefined : spread(rows.map((row) => row[key])));
  return {
    subject: s.name,
    cpuMsPerMin: of('cpuMsPerMin'),
    processCpuMsPerMin: of('processCpuMsPerMin'),
    processCpuDeltaMsPerMin: of('processCpuDeltaMsPerMin'),
    rssMiB: of('rssMiB'),
    rssDeltaMiB: of('rssDeltaMiB'),
    scrapeMedianMs: of('scrapeMedianMs'),
    pageBytes: of('pageBytes'),
    pageSeries: of('pageSeries'),
  };
});

const resultsDir = here('results');
writeFileSync(join(resultsDir, 'metrics.json'), `${JSON.stringify({ run, command: COMMAND, rounds: ROUNDS, windowSeconds: WINDOW_S, summary, results }, null, 2)}\n`);
const dash = (x, digits = 0) => (x === undefined ? '–' : formatSpread(x, digits));
const md = [
  '# Metrics endpoint: CPU and memory with and without `--metrics-listen`',
  '',
  describeRunMarkdown(run, COMMAND),
  '',
  `${ROUNDS} rounds; per round three \`scope-plugins run\` (all four plugins) run side by side for ${WINDOW_S} s after start-up, each socket polled with GET /report once a second like the probe; "scraped" also gets GET /metrics (OpenMetrics) once a second. Figures are median (min–max) over the rounds. CPU = utime+stime from /proc/<pid>/stat (all = with bpftrace; node = the suite process alone, where the endpoint runs); Δ = minus "off" in the same round. RSS = VmRSS of the suite process at the end of the window.`,
  '',
  '| subject | CPU ms/min (all) | CPU ms/min (node) | Δ node ms/min | RSS MiB | Δ RSS MiB | scrape ms (median) | page bytes | samples |',
  '|---|---:|---:|---:|---:|---:|---:|---:|---:|',
  ...summary.map((s) => `| ${s.subject} | ${dash(s.cpuMsPerMin)} | ${dash(s.processCpuMsPerMin)} | ${dash(s.processCpuDeltaMsPerMin)} | ${dash(s.rssMiB, 1)} | ${dash(s.rssDeltaMiB, 1)} | ${dash(s.scrapeMedianMs, 2)} | ${dash(s.pageBytes)} | ${dash(s.pageSeries)} |`),
  '',
];
writeFileSync(join(resultsDir, 'metrics.md'), `${md.join('\n')}\n`);
console.log(md.join('\n'));
