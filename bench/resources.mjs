#!/usr/bin/env node
// Benchmark (not a test): what each plugin and the suite cost on a node, polled like the Scope probe.
// Every subject runs side by side in the same window (so all share the machine's noise) and is polled with one
// GET /report per socket per second over a keep-alive connection, as the probe does. Per window and subject:
//   CPU  = utime+stime of the process and of all its descendants (bpftrace), from /proc/<pid>/stat, in ms per minute;
//   RSS  = VmRSS of the process, and of its descendants apart, from /proc/<pid>/status, at the end of the window.
// The floor is a bare Node server answering the same polls (bench/lib/floor-server.mjs); every figure is also
// given as a ratio to the floor of the same window, which is what to compare across runs on a shared machine.
// Three windows per round: "host" (the machine as it is: floor, core alone, each plugin alone, the suite), "busy"
// (processes spawned by the benchmark up to PROCESSES on the host: floor, host-namespaces alone, the suite) and
// "idle" (floor and suite, not polled after start-up: what the idle rule leaves).
// Run (root, after `pnpm run build`): node bench/resources.mjs   (ROUNDS=5 WINDOW_S=30 PROCESSES=700)
// Writes bench/results/resources.json and bench/results/resources.md.
import { spawn } from 'node:child_process';
import { Agent } from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pollReport } from './lib/poll.mjs';
import { countProcesses, cpuDelta, rssTree, schedDeltaMs, snapshotTree } from './lib/proc.mjs';
import { describeRun, describeRunMarkdown, formatSpread, spread } from './lib/stats.mjs';

const ROUNDS = Number(process.env.ROUNDS ?? 5);
const WINDOW_S = Number(process.env.WINDOW_S ?? 30);
const PROCESSES = Number(process.env.PROCESSES ?? 700);
const ONLY = process.env.ONLY?.split(',');
const here = (p) => fileURLToPath(new URL(p, import.meta.url));
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const COMMAND = 'pnpm bench (or: node bench/resources.mjs; ROUNDS, WINDOW_S, PROCESSES, IDLE_WAIT_S, ONLY=host,busy,idle)';

const PLUGINS = ['iowait', 'volume-count', 'http-stats', 'host-namespaces'];

/** A subject: how to start it and which sockets the "probe" polls. */
function subject(name, args, ids) {
  return { name, args, ids };
}
const floor = subject('floor (bare Node server)', [here('lib/floor-server.mjs')], ['floor']);
const alone = (id) => subject(`scope-${id} alone`, [here(`../plugins/${id}/dist/cli.js`)], [id]);
const suite = subject('scope-plugins run (all four)', [here('../suite/dist/cli.js'), 'run'], PLUGINS);
// What core alone costs: a plugin that sets one key per collection (bench/lib/null-plugin.mjs).
const core = subject('core alone (a plugin setting one key)', [here('lib/null-plugin.mjs')], ['null']);

const WINDOWS = {
  host: { label: 'host as it is', subjects: [floor, core, ...PLUGINS.map(alone), suite] },
  busy: { label: `${PROCESSES} processes on the host`, subjects: [floor, alone('host-namespaces'), suite] },
  // Nobody polls after start-up (Scope not running): core's idle rule should make this cheap. Measured after
  // IDLE_WAIT_S without a poll, so the plugins have gone idle.
  idle: { label: 'nobody polling (idle rule)', subjects: [floor, suite], poll: false },
};
const IDLE_WAIT_S = Number(process.env.IDLE_WAIT_S ?? 35);

// Children are killed if the bench is interrupted, so nothing it started outlives it.
const started = new Set();
function track(child) {
  started.add(child);
  child.once('exit', () => started.delete(child));
  return child;
}
function killAll() {
  for (const child of started) child.kill('SIGKILL');
}
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    killAll();
    process.exit(130);
  });
}

function socketOf(root, id) {
  return id === 'floor' ? join(root, 'floor.sock') : join(root, id, `${id}.sock`);
}

function start(s, root) {
  const args = s.ids[0] === 'floor' ? [...s.args, socketOf(root, 'floor')] : [...s.args, '--root', root, '--log-level', 'warn'];
  const child = track(spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'inherit'] }));
  return { ...s, child, root, agents: new Map(s.ids.map((id) => [id, new Agent({ keepAlive: true, maxSockets: 1 })])) };
}

/** One GET /report as the probe sends it; resolves to the body ('' on failure). */
function poll(running, id) {
  return pollReport(socketOf(running.root, id), running.agents.get(id));
}

/** Waits until every socket answers and http-stats' tracer runs (bpftrace compiled and attached). */
async function waitReady(running, timeoutMs = 90_000) {
  const deadline = Date.now() + timeoutMs;
  for (const r of running) {
    for (const id of r.ids) {
      for (;;) {
        const body = await poll(r, id);
        const ready = body !== '' && (id !== 'http-stats' || body.includes('running (bpftrace pid'));
        if (ready) break;
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
  for (const r of running) for (const agent of r.agents.values()) agent.destroy();
}

/** Spawns sleep processes (a third of them in unshare trees with their own namespaces) up to `total` on the host. */
async function spawnProcesses(total) {
  const children = [];
  let missing = total - countProcesses();
  let i = 0;
  while (missing > 0) {
    // Every third one an unshare tree (unshare + sleep = 2 processes, 5 new namespaces); --kill-child takes the
    // sleep down with unshare.
    const tree = i++ % 3 === 0 && missing >= 2;
    const args = tree ? ['unshare', ['--uts', '--ipc', '--net', '--pid', '--fork', '--mount-proc', '--kill-child', 'sleep', '3600']] : ['sleep', ['3600']];
    children.push(track(spawn(args[0], args[1], { stdio: 'ignore' })));
    missing -= tree ? 2 : 1;
    if (children.length % 50 === 0) await sleep(20);
  }
  await sleep(1000);
  return children;
}

async function runWindow(windowName) {
  const window = WINDOWS[windowName];
  const base = mkdtempSync(join(tmpdir(), 'sp-bench-'));
  const running = window.subjects.map((s, i) => start(s, join(base, String(i))));
  try {
    await waitReady(running);
    // Let start-up work (module loading, bpftrace's compile, first Docker sync) settle before measuring.
    const polling = window.poll !== false;
    const pollAll = () => (polling ? Promise.all(running.flatMap((r) => r.ids.map((id) => poll(r, id)))) : Promise.resolve());
    for (let i = 0; i < 5; i++) {
      await pollAll();
      await sleep(1000);
    }
    if (!polling) await sleep(IDLE_WAIT_S * 1000);
    const before = running.map((r) => snapshotTree(r.child.pid));
    const processes = countProcesses();
    const t0 = Date.now();
    for (let i = 0; i < WINDOW_S; i++) {
      const next = t0 + (i + 1) * 1000;
      await pollAll();
      await sleep(Math.max(0, next - Date.now()));
    }
    const seconds = (Date.now() - t0) / 1000;
    const after = running.map((r) => snapshotTree(r.child.pid));
    const rows = running.map((r, i) => {
      const cpu = cpuDelta(before[i], after[i]);
      const rss = rssTree(r.child.pid);
      const perMin = (ms) => (ms * 60) / seconds;
      return {
        subject: r.name,
        cpuMsPerMin: perMin(cpu.processMs + cpu.childrenMs),
        processCpuMsPerMin: perMin(cpu.processMs),
        childrenCpuMsPerMin: perMin(cpu.childrenMs),
        schedMsPerMin: perMin(schedDeltaMs(before[i], after[i])),
        rssMiB: rss.processKb / 1024,
        childrenRssMiB: rss.childrenKb / 1024,
      };
    });
    const floorRow = rows[0];
    for (const row of rows) {
      // An unpolled floor spends no measurable CPU (idle window): no ratio then.
      row.cpuRatio = floorRow.cpuMsPerMin > 0 ? row.cpuMsPerMin / floorRow.cpuMsPerMin : NaN;
      // Unpolled, the floor spends a fraction of a ms: a ratio to it would mean nothing.
      row.schedRatio = polling && floorRow.schedMsPerMin > 0 ? row.schedMsPerMin / floorRow.schedMsPerMin : NaN;
      row.rssRatio = row.rssMiB / floorRow.rssMiB;
    }
    return { window: windowName, seconds, processes, rows };
  } finally {
    await stop(running);
    rmSync(base, { recursive: true, force: true });
  }
}

const run = describeRun();
const windows = Object.keys(WINDOWS).filter((w) => !ONLY || ONLY.includes(w));
const results = [];
let busyProcesses = [];
try {
  for (let round = 0; round < ROUNDS; round++) {
    for (const w of windows) {
      if (w === 'busy') busyProcesses = await spawnProcesses(PROCESSES);
      const result = await runWindow(w);
      for (const p of busyProcesses) p.kill('SIGKILL');
      busyProcesses = [];
      console.error(`round ${round + 1}/${ROUNDS} ${w} (${result.processes} processes): ${result.rows.map((r) => `${r.subject} ${r.cpuMsPerMin.toFixed(0)} ms/min ${r.rssMiB.toFixed(1)}+${r.childrenRssMiB.toFixed(1)} MiB`).join('; ')}`);
      results.push({ round, ...result });
      await sleep(1000);
    }
  }
} finally {
  killAll();
}

const summary = windows.map((w) => {
  const ofWindow = results.filter((r) => r.window === w);
  const subjects = ofWindow[0].rows.map((row) => row.subject);
  return {
    window: w,
    label: WINDOWS[w].label,
    processes: spread(ofWindow.map((r) => r.processes)),
    subjects: subjects.map((name) => {
      const rows = ofWindow.map((r) => r.rows.find((row) => row.subject === name));
      const of = (key) => spread(rows.map((row) => row[key]));
      return {
        subject: name,
        cpuMsPerMin: of('cpuMsPerMin'),
        cpuRatio: of('cpuRatio'),
        processCpuMsPerMin: of('processCpuMsPerMin'),
        childrenCpuMsPerMin: of('childrenCpuMsPerMin'),
        schedMsPerMin: of('schedMsPerMin'),
        schedRatio: of('schedRatio'),
        rssMiB: of('rssMiB'),
        childrenRssMiB: of('childrenRssMiB'),
      };
    }),
  };
});

const resultsDir = here('results');
// A partial run (ONLY=...) writes its own files, so it never replaces the full results.
const name = ONLY ? `resources-${windows.join('-')}` : 'resources';
writeFileSync(join(resultsDir, `${name}.json`), `${JSON.stringify({ run, command: COMMAND, rounds: ROUNDS, windowSeconds: WINDOW_S, summary, results }, null, 2)}\n`);
const md = [
  '# Resources: CPU and memory at 1 Hz polling, plugins vs a bare Node floor',
  '',
  describeRunMarkdown(run, COMMAND),
  '',
  `${ROUNDS} rounds; per round and window every subject runs side by side for ${WINDOW_S} s after start-up has settled, each socket polled with GET /report once a second (keep-alive, like the probe). Figures are median (min–max) over the rounds. CPU = utime+stime of the process and its descendants (bpftrace) from /proc/<pid>/stat, as an operator reads it; "× floor" is the ratio to the floor of the same window, per round. The floor spends only a few 10 ms ticks per window, so the ratio is also given from schedstat (/proc/<pid>/task/*/schedstat, ns on CPU, all threads of the process and its live descendants): "sched ms/min" and "× floor (sched)". RSS = VmRSS from /proc/<pid>/status at the end of the window.`,
  '',
];
for (const w of summary) {
  md.push(`## ${w.label} (${formatSpread(w.processes)} processes)`, '');
  md.push('| subject | CPU ms/min (all) | × floor | of which Node | of which children | sched ms/min | × floor (sched) | Node RSS MiB | children RSS MiB |', '|---|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const s of w.subjects) {
    md.push(`| ${s.subject} | ${formatSpread(s.cpuMsPerMin)} | ${formatSpread(s.cpuRatio, 2)} | ${formatSpread(s.processCpuMsPerMin)} | ${formatSpread(s.childrenCpuMsPerMin)} | ${formatSpread(s.schedMsPerMin)} | ${formatSpread(s.schedRatio, 2)} | ${formatSpread(s.rssMiB, 1)} | ${formatSpread(s.childrenRssMiB, 1)} |`);
  }
  md.push('');
}
writeFileSync(join(resultsDir, `${name}.md`), `${md.join('\n')}\n`);
console.log(md.join('\n'));
