#!/usr/bin/env node
// Soak (a benchmark, not a test): the suite with all four plugins, polled like the Scope probe for a long
// time, to show its memory and descriptors stay flat.
// - one GET /report per plugin socket per second over a keep-alive connection (as the probe does), with the
//   probe's 500 ms deadline; every failure counted;
// - a small loopback HTTP server in this process answering a few requests a second, so http-stats has
//   traffic to count (its per-process state is exercised, not just an empty map);
// - every SAMPLE_S seconds: the suite's RSS (VmRSS), V8 heap (heapUsed from its /status), open file
//   descriptors (/proc/<pid>/fd), CPU (utime+stime) and its children's (bpftrace) RSS.
// At the end (and after every sample, so an interrupted run still leaves its data): bench/results/soak.json
// and bench/results/soak.md with the least-squares slope of RSS, heap and fds per hour, computed over the
// samples after the first WARMUP_S seconds (start-up growth, JIT and the first Docker sync are not a leak).
// Run (root, after `pnpm run build`): node bench/soak.mjs   (DURATION_S=3600 SAMPLE_S=60 WARMUP_S=300)
import { spawn } from 'node:child_process';
import { Agent, createServer, request } from 'node:http';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { descendantsOf, readRssKb, readTicks, CLK_TCK } from './lib/proc.mjs';
import { describeRun, describeRunMarkdown } from './lib/stats.mjs';

const DURATION_S = Number(process.env.DURATION_S ?? 3600);
const SAMPLE_S = Number(process.env.SAMPLE_S ?? 60);
const WARMUP_S = Number(process.env.WARMUP_S ?? Math.min(300, DURATION_S / 6));
const OUT = process.env.OUT ?? fileURLToPath(new URL('./results/', import.meta.url));
const PLUGINS = ['iowait', 'volume-count', 'http-stats', 'host-namespaces'];
const COMMAND = 'node bench/soak.mjs (DURATION_S=3600 SAMPLE_S=60 WARMUP_S=300)';
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const here = (p) => fileURLToPath(new URL(p, import.meta.url));

const root = mkdtempSync(join(tmpdir(), 'sp-soak-'));
const suite = spawn(process.execPath, [here('../suite/dist/cli.js'), 'run', '--root', root, '--log-level', 'warn'], {
  stdio: ['ignore', 'ignore', 'pipe'],
  env: { ...process.env, SCOPE_HOSTNAME: 'soak' },
});
const logLines = [];
suite.stderr.on('data', (d) => {
  for (const line of d.toString().split('\n')) if (line.trim() !== '') logLines.push(line);
  if (logLines.length > 200) logLines.splice(0, logLines.length - 200);
});
let finishing = false;
const cleanup = () => {
  if (suite.exitCode === null && suite.signalCode === null) suite.kill('SIGTERM');
  rmSync(root, { recursive: true, force: true });
};
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    if (!finishing) void finish(`interrupted by ${signal}`).then(() => process.exit(130));
  });
}

const agents = new Map(PLUGINS.map((id) => [id, new Agent({ keepAlive: true, maxSockets: 1 })]));
function get(id, path) {
  return new Promise((resolve) => {
    const req = request({ socketPath: join(root, id, `${id}.sock`), path, agent: agents.get(id), headers: { Host: 'plugin' }, timeout: 500 }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', () => resolve(undefined));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(undefined));
    req.end();
  });
}

// Traffic for http-stats: a loopback server here, a few requests a second.
const traffic = createServer((req, res) => res.end(req.url === '/missing' ? (res.statusCode = 404, 'no') : 'ok'));
await new Promise((resolve) => traffic.listen(0, '127.0.0.1', resolve));
const trafficAgent = new Agent({ keepAlive: false });
const trafficTimer = setInterval(() => {
  for (const path of ['/', '/a', '/missing']) request({ host: '127.0.0.1', port: traffic.address().port, path, agent: trafficAgent }, (res) => res.resume()).on('error', () => undefined).end();
}, 1000);

const polls = { total: 0, failed: 0, byPlugin: Object.fromEntries(PLUGINS.map((id) => [id, { total: 0, failed: 0 }])) };
async function pollAll() {
  await Promise.all(
    PLUGINS.map(async (id) => {
      const answer = await get(id, '/report?api_version=1&probe_id=soak');
      polls.total++;
      polls.byPlugin[id].total++;
      let ok = answer?.status === 200;
      if (ok) {
        try {
          JSON.parse(answer.body);
        } catch {
          ok = false;
        }
      }
      if (!ok) {
        polls.failed++;
        polls.byPlugin[id].failed++;
      }
    }),
  );
}

function fdCount(pid) {
  try {
    return readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return 0;
  }
}

const RUN = describeRun();
const samples = [];
const startedAt = Date.now();
async function sample() {
  const status = await get('iowait', '/status');
  let heapUsedBytes = null;
  let states = {};
  try {
    heapUsedBytes = JSON.parse(status.body).process.heapUsedBytes;
  } catch {
    // An older core without process memory in /status: heap stays unknown.
  }
  for (const id of PLUGINS) {
    const s = await get(id, '/status');
    try {
      states[id] = JSON.parse(s.body).state ?? 'unknown';
    } catch {
      states[id] = 'no answer';
    }
  }
  const ticks = readTicks(suite.pid);
  const children = descendantsOf(suite.pid);
  samples.push({
    atS: Math.round((Date.now() - startedAt) / 1000),
    rssKiB: readRssKb(suite.pid),
    heapUsedKiB: heapUsedBytes === null ? null : Math.round(heapUsedBytes / 1024),
    fds: fdCount(suite.pid),
    cpuS: ticks ? ticks.own / CLK_TCK : null,
    childrenRssKiB: children.reduce((sum, pid) => sum + readRssKb(pid), 0),
    children: children.length,
    pollsFailed: polls.failed,
    states,
  });
}

/** Least-squares slope of y over x (x in seconds), per hour. */
function slopePerHour(points) {
  const n = points.length;
  if (n < 2) return null;
  const mx = points.reduce((s, p) => s + p.x, 0) / n;
  const my = points.reduce((s, p) => s + p.y, 0) / n;
  const sxx = points.reduce((s, p) => s + (p.x - mx) ** 2, 0);
  if (sxx === 0) return null;
  const sxy = points.reduce((s, p) => s + (p.x - mx) * (p.y - my), 0);
  return (sxy / sxx) * 3600;
}

function floors(after) {
  const bins = new Map();
  for (const s of after) {
    const bin = Math.floor((s.atS - WARMUP_S) / 600);
    const b = bins.get(bin) ?? { fromS: WARMUP_S + bin * 600, heapUsedKiB: Infinity, rssKiB: Infinity, fds: Infinity };
    if (s.heapUsedKiB !== null) b.heapUsedKiB = Math.min(b.heapUsedKiB, s.heapUsedKiB);
    b.rssKiB = Math.min(b.rssKiB, s.rssKiB);
    b.fds = Math.min(b.fds, s.fds);
    bins.set(bin, b);
  }
  return [...bins.values()];
}

function summarize(note) {
  const after = samples.filter((s) => s.atS >= WARMUP_S);
  const series = (key) => after.filter((s) => s[key] !== null).map((s) => ({ x: s.atS, y: s[key] }));
  const range = (key) => {
    const values = after.map((s) => s[key]).filter((v) => v !== null);
    return values.length === 0 ? null : { min: Math.min(...values), max: Math.max(...values), first: values[0], last: values[values.length - 1] };
  };
  return {
    run: RUN,
    note,
    durationS: Math.round((Date.now() - startedAt) / 1000),
    plannedDurationS: DURATION_S,
    sampleS: SAMPLE_S,
    warmupS: WARMUP_S,
    polls,
    slopes: {
      rssKiBPerHour: slopePerHour(series('rssKiB')),
      heapUsedKiBPerHour: slopePerHour(series('heapUsedKiB')),
      fdsPerHour: slopePerHour(series('fds')),
      childrenRssKiBPerHour: slopePerHour(series('childrenRssKiB')),
    },
    ranges: { rssKiB: range('rssKiB'), heapUsedKiB: range('heapUsedKiB'), fds: range('fds'), childrenRssKiB: range('childrenRssKiB') },
    // The lowest value in each 10-minute window: V8's heap and RSS saw-tooth with GC by more than a slow leak
    // would add in an hour, so the floors (what is left after collections) are what shows a trend.
    floors: floors(after),
    samples,
    lastLogLines: logLines.slice(-20),
  };
}

function write(note) {
  const result = summarize(note);
  writeFileSync(join(OUT, 'soak.json'), `${JSON.stringify(result, null, 2)}\n`);
  const fmt = (v, digits = 1) => (v === null || v === undefined ? 'n/a' : Number(v).toFixed(digits));
  const r = result.ranges;
  const md = [
    '# Soak: the suite, all four plugins, polled at 1 Hz',
    '',
    describeRunMarkdown(result.run, COMMAND),
    '',
    `${note}. Ran ${result.durationS} s of ${result.plannedDurationS} s planned; a sample every ${SAMPLE_S} s; slopes are least-squares fits over the samples after the first ${WARMUP_S} s (start-up is not a leak).`,
    `Polls: ${polls.total} GET /report (one per plugin socket per second, 500 ms deadline), ${polls.failed} failed.`,
    '',
    '| measure | first (after warm-up) | last | min | max | slope per hour |',
    '|---|---|---|---|---|---|',
    `| suite RSS (KiB) | ${r.rssKiB?.first ?? 'n/a'} | ${r.rssKiB?.last ?? 'n/a'} | ${r.rssKiB?.min ?? 'n/a'} | ${r.rssKiB?.max ?? 'n/a'} | ${fmt(result.slopes.rssKiBPerHour)} KiB |`,
    `| suite V8 heap used (KiB) | ${r.heapUsedKiB?.first ?? 'n/a'} | ${r.heapUsedKiB?.last ?? 'n/a'} | ${r.heapUsedKiB?.min ?? 'n/a'} | ${r.heapUsedKiB?.max ?? 'n/a'} | ${fmt(result.slopes.heapUsedKiBPerHour)} KiB |`,
    `| suite open fds | ${r.fds?.first ?? 'n/a'} | ${r.fds?.last ?? 'n/a'} | ${r.fds?.min ?? 'n/a'} | ${r.fds?.max ?? 'n/a'} | ${fmt(result.slopes.fdsPerHour, 2)} |`,
    `| children (bpftrace) RSS (KiB) | ${r.childrenRssKiB?.first ?? 'n/a'} | ${r.childrenRssKiB?.last ?? 'n/a'} | ${r.childrenRssKiB?.min ?? 'n/a'} | ${r.childrenRssKiB?.max ?? 'n/a'} | ${fmt(result.slopes.childrenRssKiBPerHour)} KiB |`,
    '',
    '## Floors per 10 minutes (lowest sample in each window: what remains after garbage collection)',
    '',
    '| from (s) | heap KiB | RSS KiB | fds |',
    '|---|---|---|---|',
    ...result.floors.map((f) => `| ${f.fromS} | ${f.heapUsedKiB} | ${f.rssKiB} | ${f.fds} |`),
    '',
    '## Samples',
    '',
    '| t (s) | RSS KiB | heap KiB | fds | CPU s | children RSS KiB | failed polls | plugin states |',
    '|---|---|---|---|---|---|---|---|',
    ...samples.map((s) => `| ${s.atS} | ${s.rssKiB} | ${s.heapUsedKiB ?? 'n/a'} | ${s.fds} | ${fmt(s.cpuS, 2)} | ${s.childrenRssKiB} | ${s.pollsFailed} | ${Object.entries(s.states).map(([id, st]) => `${id}:${st}`).join(' ')} |`),
    '',
  ].join('\n');
  writeFileSync(join(OUT, 'soak.md'), md);
}

async function finish(note) {
  finishing = true;
  clearInterval(trafficTimer);
  await sample().catch(() => undefined);
  write(note);
  traffic.close();
  for (const agent of agents.values()) agent.destroy();
  cleanup();
}

// Ready when every socket answers.
for (const id of PLUGINS) {
  const deadline = Date.now() + 120_000;
  while ((await get(id, '/report'))?.status !== 200) {
    if (Date.now() > deadline || suite.exitCode !== null) {
      await finish(`${id} never answered`);
      process.exit(1);
    }
    await sleep(250);
  }
}
await sample();
write('running');
let nextSampleAt = startedAt + SAMPLE_S * 1000;
const endAt = startedAt + DURATION_S * 1000;
while (Date.now() < endAt && !finishing) {
  const tickAt = Date.now();
  await pollAll();
  if (suite.exitCode !== null || suite.signalCode !== null) {
    await finish(`the suite exited (code ${suite.exitCode}, signal ${suite.signalCode})`);
    process.exit(1);
  }
  if (Date.now() >= nextSampleAt) {
    await sample();
    write('running');
    nextSampleAt += SAMPLE_S * 1000;
  }
  await sleep(Math.max(0, 1000 - (Date.now() - tickAt)));
}
if (!finishing) await finish('completed');
process.exit(0);
