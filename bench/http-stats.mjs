#!/usr/bin/env node
// Benchmark (not a test): what tracing costs an HTTP server. For each server (Node `http`, Python
// `http.server`), rounds alternate "untraced" and "traced" (the http-stats plugin running, with its
// bpftrace attached) under the same loopback load from wrk; medians of the rounds are compared. In
// traced rounds it also records the plugin's and bpftrace's CPU (utime+stime from /proc/<pid>/stat)
// and memory (VmRSS, VmHWM from /proc/<pid>/status), and how many requests the plugin counted vs wrk.
// Needs root, bpftrace, tracefs; installs wrk (Debian package) when missing.
// Run: cd /work/main && pnpm --filter @scope-plugins/core build && pnpm --filter @scope-plugins/http-stats build \
//        && node bench/http-stats.mjs            (ROUNDS=5 SECONDS=10 CONNECTIONS=16 by default)
// Writes bench/results/http-stats.md.
import { execFile, execFileSync, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir, cpus } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { pollReport, pluginSocketPath } from '../shared/core/dist/index.js';
import { describeRun } from './lib/stats.mjs';

const ROUNDS = Number(process.env.ROUNDS ?? 5);
const SECONDS = Number(process.env.SECONDS ?? 10);
const CONNECTIONS = Number(process.env.CONNECTIONS ?? 16);
const HOST = 'bench-host';
const execFileAsync = promisify(execFile);
const CLK_TCK = 100;
const here = (p) => fileURLToPath(new URL(p, import.meta.url));
const CLI = here('../plugins/http-stats/dist/cli.js');
// Program variants whose per-probe cost is measured: the portable one, on x86_64 the register-reading one
// (the default there once the start-up self-test passed, as in the throughput rounds), and the AOT one (`--aot`).
const AOT_PROGRAM = here('../plugins/http-stats/bpf/http-stats-aot.bt');
const PROBE_COST_PROGRAMS = [here('../plugins/http-stats/bpf/http-stats.bt'), ...(process.arch === 'x64' ? [here('../plugins/http-stats/bpf/http-stats-x86_64.bt')] : []), AOT_PROGRAM];
const SERVERS = {
  'Node http (writev)': [process.execPath, here('../plugins/http-stats/test/servers/node-server.mjs')],
  'Python http.server (sendto)': ['python3', here('../plugins/http-stats/test/servers/python-server.py')],
};

// Children are stopped if the bench is interrupted, so no server or tracer outlives it.
const children = new Set();
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    for (const child of children) child.kill('SIGKILL');
    process.exit(130);
  });
}
// A failure (an exception) ends the bench too: no server or tracer it started may outlive it.
process.on('exit', () => {
  for (const child of children) child.kill('SIGKILL');
});
function track(child) {
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

function ensureWrk() {
  try {
    execFileSync('wrk', ['--version'], { stdio: 'ignore', timeout: 5000 });
  } catch (error) {
    // wrk --version exits 1 after printing; only a missing binary (ENOENT) means "install it".
    if (error.code !== 'ENOENT') return;
    console.error('installing wrk (apt-get install -y wrk)');
    execFileSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', 'wrk'], { stdio: 'inherit', timeout: 300_000, env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  }
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

function cpuTicks(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[11]) + Number(fields[12]); // utime + stime (fields 14, 15)
}

function memoryKb(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const get = (key) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
  return { rss: get('VmRSS'), hwm: get('VmHWM') };
}

function waitForLine(stream, pattern, timeoutMs, what) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what}: no line matching ${pattern} within ${timeoutMs} ms`)), timeoutMs);
    const rl = createInterface({ input: stream });
    rl.on('line', (line) => {
      const match = pattern.exec(line);
      if (match) {
        clearTimeout(timer);
        resolve(match);
      }
    });
  });
}

async function startServer(command, script) {
  // stderr ignored: wrk resets its connections at the end, which http.server reports with tracebacks.
  const child = track(spawn(command, [script, '0'], { stdio: ['ignore', 'pipe', 'ignore'] }));
  const [, port] = await waitForLine(child.stdout, /^listening (\d+)$/, 10_000, 'server');
  return { child, port: Number(port) };
}

function stop(child) {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

async function runWrk(port) {
  // Asynchronous, so an interrupt (Ctrl-C) still reaches the handler that stops the children.
  const { stdout: out } = await execFileAsync('wrk', ['-t1', `-c${CONNECTIONS}`, `-d${SECONDS}s`, `http://127.0.0.1:${port}/?s=200`], { encoding: 'utf8', timeout: (SECONDS + 30) * 1000 });
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1]);
  const requests = Number(/(\d+) requests in/.exec(out)?.[1]);
  const errors = /Non-2xx or 3xx responses: (\d+)|Socket errors: (.*)/.exec(out)?.[0] ?? '';
  return { rps, requests, errors };
}

async function startPlugin(root, program = process.env.PROGRAM) {
  const child = track(spawn(process.execPath, [CLI, '--root', root, '--log-level', 'info', '--tls-libraries', 'none', ...(program ? ['--program', program] : []), ...(program === AOT_PROGRAM ? ['--aot'] : [])], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, SCOPE_HOSTNAME: HOST } }));
  const [, bpftracePid] = await waitForLine(child.stderr, /tracing HTTP on syscall tracepoints.*bpftracePid=(\d+)/, 30_000, 'plugin');
  child.stderr.resume();
  return { child, bpftracePid: Number(bpftracePid) };
}

async function reportedTotal(root, pid) {
  const poll = await pollReport(pluginSocketPath(root, 'http-stats'), undefined, 2000);
  if (!poll.ok) return NaN;
  const report = JSON.parse(poll.body);
  return Number(report.Process?.nodes?.[`${HOST};${pid}`]?.latest?.http_stats_requests_total?.value ?? 0);
}

/** Sets kernel.bpf_stats_enabled (run_time_ns/run_cnt per BPF program); always set back to 0 at exit. */
function setBpfStats(on) {
  writeFileSync('/proc/sys/kernel/bpf_stats_enabled', on ? '1' : '0');
}
process.on('exit', () => {
  try {
    setBpfStats(false);
  } catch {
    // Not root or no such sysctl: nothing was enabled.
  }
});

/**
 * run_cnt and run_time_ns of every BPF program bpftrace `pid` holds, from /proc/<pid>/fdinfo (prog_id, run_cnt,
 * run_time_ns), named through `bpftool prog show` (names are cut at 15 characters: sys_enter_writev shows as
 * sys_enter_write, so a repeated name gets its program id appended).
 */
function readProgramStats(pid) {
  const byId = new Map();
  for (const fd of readdirSync(`/proc/${pid}/fdinfo`)) {
    let text;
    try {
      text = readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8');
    } catch {
      continue;
    }
    const get = (key) => Number(new RegExp(`^${key}:\\s+(\\d+)`, 'm').exec(text)?.[1] ?? NaN);
    const id = get('prog_id');
    if (Number.isFinite(id)) byId.set(id, { runs: get('run_cnt'), ns: get('run_time_ns') });
  }
  const names = new Map(JSON.parse(execFileSync('bpftool', ['prog', 'show', '--json'], { encoding: 'utf8', timeout: 10_000, maxBuffer: 64 * 1024 * 1024 })).map((p) => [p.id, p.name]));
  const out = {};
  for (const [id, stats] of [...byId].sort((a, b) => a[0] - b[0])) {
    let name = names.get(id) ?? String(id);
    if (name in out) name = `${name} #${id}`;
    out[name] = stats;
  }
  return out;
}

/**
 * Where the tracing cost goes: one traced wrk window with the kernel's BPF statistics on, per program
 * variant; nanoseconds per firing and firings per request for every probe. Not part of the throughput
 * rounds (the statistics cost a little themselves).
 */
async function probeCosts(server, program) {
  const root = await mkdtemp(join(tmpdir(), 'hs-bench-'));
  const plugin = await startPlugin(root, program);
  try {
    setBpfStats(true);
    const before = readProgramStats(plugin.bpftracePid);
    const load = await runWrk(server.port);
    const after = readProgramStats(plugin.bpftracePid);
    setBpfStats(false);
    const probes = Object.entries(after)
      .map(([name, a]) => {
        const runs = a.runs - (before[name]?.runs ?? 0);
        const ns = a.ns - (before[name]?.ns ?? 0);
        return { name, runs, nsPerRun: runs > 0 ? ns / runs : 0, runsPerRequest: runs / load.requests, nsPerRequest: ns / load.requests };
      })
      .filter((p) => p.runs > 0)
      .sort((a, b) => b.nsPerRequest - a.nsPerRequest);
    return { program: program ?? 'default', requests: load.requests, rps: load.rps, probes, totalNsPerRequest: probes.reduce((a, p) => a + p.nsPerRequest, 0) };
  } finally {
    setBpfStats(false);
    await stop(plugin.child);
    await rm(root, { recursive: true, force: true });
  }
}

async function benchServer(name, [command, script]) {
  const server = await startServer(command, script);
  await runWrk(server.port); // warm-up (JIT, page cache), not counted
  const untraced = [];
  const traced = [];
  for (let round = 0; round < ROUNDS; round++) {
    const order = round % 2 === 0 ? ['untraced', 'traced'] : ['traced', 'untraced'];
    for (const mode of order) {
      if (mode === 'untraced') {
        const serverBefore = cpuTicks(server.child.pid);
        const load = await runWrk(server.port);
        untraced.push({ ...load, serverCpuUsPerRequest: ((cpuTicks(server.child.pid) - serverBefore) / CLK_TCK / load.requests) * 1e6 });
        continue;
      }
      const root = await mkdtemp(join(tmpdir(), 'hs-bench-'));
      const plugin = await startPlugin(root);
      const before = { plugin: cpuTicks(plugin.child.pid), bpftrace: cpuTicks(plugin.bpftracePid), at: Date.now() };
      const before_total = await reportedTotal(root, server.child.pid);
      const serverBefore = cpuTicks(server.child.pid);
      const load = await runWrk(server.port);
      const serverCpuUsPerRequest = ((cpuTicks(server.child.pid) - serverBefore) / CLK_TCK / load.requests) * 1e6;
      const after = { plugin: cpuTicks(plugin.child.pid), bpftrace: cpuTicks(plugin.bpftracePid), at: Date.now() };
      // The last counts reach the report within about 2 s (bpftrace prints every second).
      await new Promise((resolve) => setTimeout(resolve, 2500));
      const counted = (await reportedTotal(root, server.child.pid)) - before_total;
      const wallS = (after.at - before.at) / 1000;
      traced.push({
        ...load,
        serverCpuUsPerRequest,
        counted,
        pluginCpu: ((after.plugin - before.plugin) / CLK_TCK / wallS) * 100,
        bpftraceCpu: ((after.bpftrace - before.bpftrace) / CLK_TCK / wallS) * 100,
        pluginMem: memoryKb(plugin.child.pid),
        bpftraceMem: memoryKb(plugin.bpftracePid),
      });
      await stop(plugin.child);
      await rm(root, { recursive: true, force: true });
    }
    console.error(`${name} round ${round + 1}/${ROUNDS}: untraced ${untraced.at(-1).rps} req/s, traced ${traced.at(-1).rps} req/s (counted ${traced.at(-1).counted} of ${traced.at(-1).requests})`);
  }
  const costs = [];
  for (const program of PROBE_COST_PROGRAMS) costs.push(await probeCosts(server, program));
  await stop(server.child);
  return { name, untraced, traced, costs };
}

ensureWrk();
const kernel = execFileSync('uname', ['-r'], { encoding: 'utf8' }).trim();
const bpftraceVersion = execFileSync('bpftrace', ['--version'], { encoding: 'utf8' }).trim();
const wrkVersion = (() => {
  try {
    return execFileSync('wrk', ['--version'], { encoding: 'utf8' });
  } catch (error) {
    return String(error.stdout ?? '');
  }
})().split('\n')[0].replace(/ \[epoll\].*/, '').trim();

const loadBefore = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
const results = [];
// ONLY=node|python runs one server; PROGRAM=<file> tries another bpftrace program; neither is used for the committed results.
for (const [name, spec] of Object.entries(SERVERS)) if (!process.env.ONLY || name.toLowerCase().startsWith(process.env.ONLY)) results.push(await benchServer(name, spec));
const loadAfter = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');

const f0 = (x) => Math.round(x).toLocaleString('en-US');
const f1 = (x) => x.toFixed(1);
const mb = (kb) => (kb / 1024).toFixed(1);
const lines = [
  '# http-stats: overhead of tracing on an HTTP server',
  '',
  `Command (repo root): \`pnpm bench\` (this part alone, after \`pnpm run build\`: \`node bench/http-stats.mjs\`); commit ${describeRun().commit}`,
  `(ROUNDS=${ROUNDS}, SECONDS=${SECONDS}, CONNECTIONS=${CONNECTIONS}).`,
  '',
  `Machine: ${cpus().length} cores (${cpus()[0]?.model ?? '?'}), kernel ${kernel}, ${bpftraceVersion}, ${wrkVersion}, Node ${process.version}; run ${new Date().toISOString().slice(0, 16)}Z; load average before ${loadBefore}, after ${loadAfter} (other work shares the machine).`,
  '',
  `Load: \`wrk -t1 -c${CONNECTIONS} -d${SECONDS}s\` on 127.0.0.1, keep-alive, \`GET /?s=200\` (small body). Each round runs one untraced and one`,
  'traced window, alternating which goes first; "traced" = the plugin CLI with its defaults (on x86_64: the register-reading program once its start-up self-test passed) and its bpftrace attached (started',
  'before the window, stopped after it). Throughput is the median over rounds; CPU is % of one core over the window.',
  'Server, wrk, the plugin and bpftrace share the 2 cores (and, on a shared dev machine, whatever else runs), so',
  'throughput is noisy; the server\'s CPU time per request (utime+stime of the server process / requests served; the',
  'eBPF programs run in the server\'s syscalls and are charged to it) is the steadier measure of the tracing cost.',
  '',
  '| server | untraced req/s (median) | traced req/s (median) | traced / untraced | server CPU µs/req untraced → traced | plugin CPU % | bpftrace CPU % | plugin RSS MB (peak) | bpftrace RSS MB (peak) | requests counted / wrk requests |',
  '|---|---|---|---|---|---|---|---|---|---|',
];
for (const r of results) {
  const u = median(r.untraced.map((x) => x.rps));
  const t = median(r.traced.map((x) => x.rps));
  const counted = r.traced.reduce((a, x) => a + x.counted, 0);
  const sent = r.traced.reduce((a, x) => a + x.requests, 0);
  lines.push(
    `| ${r.name} | ${f0(u)} | ${f0(t)} | **${((t / u) * 100).toFixed(1)} %** | ${f1(median(r.untraced.map((x) => x.serverCpuUsPerRequest)))} → ${f1(median(r.traced.map((x) => x.serverCpuUsPerRequest)))} (${((median(r.untraced.map((x) => x.serverCpuUsPerRequest)) / median(r.traced.map((x) => x.serverCpuUsPerRequest))) * 100).toFixed(1)} % of untraced throughput per CPU) | ${f1(median(r.traced.map((x) => x.pluginCpu)))} | ${f1(median(r.traced.map((x) => x.bpftraceCpu)))} | ${mb(median(r.traced.map((x) => x.pluginMem.rss)))} (${mb(Math.max(...r.traced.map((x) => x.pluginMem.hwm)))}) | ${mb(median(r.traced.map((x) => x.bpftraceMem.rss)))} (${mb(Math.max(...r.traced.map((x) => x.bpftraceMem.hwm)))}) | ${f0(counted)} / ${f0(sent)} (${((counted / sent) * 100).toFixed(2)} %) |`,
  );
}
lines.push('', 'Rounds (req/s):', '');
for (const r of results) {
  lines.push(`- ${r.name}: untraced ${r.untraced.map((x) => f0(x.rps)).join(', ')}; traced ${r.traced.map((x) => f0(x.rps)).join(', ')}`);
}
lines.push('', '## Where the cost goes: nanoseconds per probe firing', '');
lines.push('One extra traced window per server and program with `kernel.bpf_stats_enabled=1` (set back to 0 afterwards): `run_time_ns / run_cnt` of each BPF program bpftrace loaded (`bpftool prog show`), and how often it fired per request served. This is the time inside the eBPF programs only; the rest of the added server CPU is the kernel\'s syscall-tracepoint path itself (every syscall of every process takes the slower traced entry/exit once any syscall tracepoint is attached).', '');
lines.push('| server | program | probe | ns per firing | firings per request | ns per request |', '|---|---|---|---:|---:|---:|');
for (const r of results) {
  for (const c of r.costs) {
    const program = c.program === 'default' ? '`http-stats.bt`' : `\`${c.program.split('/').at(-1)}\``;
    for (const p of c.probes) lines.push(`| ${r.name} | ${program} | ${p.name} | ${f0(p.nsPerRun)} | ${p.runsPerRequest.toFixed(2)} | ${f0(p.nsPerRequest)} |`);
    lines.push(`| ${r.name} | ${program} | **all probes** | | | **${f0(c.totalNsPerRequest)}** |`);
  }
}
lines.push('');
const markdown = lines.join('\n');
const out = here('./results/http-stats.md');
if (!process.env.ONLY && !process.env.PROGRAM) {
  writeFileSync(out, `${markdown}\n`);
  writeFileSync(here('./results/http-stats.json'), `${JSON.stringify({ run: describeRun(), command: 'pnpm bench (or: node bench/http-stats.mjs)', rounds: ROUNDS, seconds: SECONDS, connections: CONNECTIONS, results }, null, 2)}\n`);
}
console.log(markdown);
