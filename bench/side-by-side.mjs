#!/usr/bin/env node
// Quick side-by-side comparison (not a test; the official figures come from bench/resources.mjs): starts each
// subject, polls its socket(s) with GET /report once a second like the Scope probe, and after a warm-up prints
// per subject the CPU over the window (schedstat: ns on CPU summed over all threads of the process, plus its
// live descendants such as bpftrace) in ms/min, and VmRSS at the end. Run the floor in the same run and compare ratios.
//
// Usage (repo root, after `pnpm run build`):
//   node bench/side-by-side.mjs SECONDS 'name=command args...' ...
//   node bench/side-by-side.mjs 60 "floor=node bench/lib/floor-server.mjs {sock}" \
//     "null=node bench/lib/null-plugin.mjs --root {root} --log-level warn" \
//     "iowait=node plugins/iowait/dist/cli.js --root {root} --log-level warn"
// A subject's name is the plugin id it polls (`name#variant` for variants of one plugin); IDS_<name>=a,b polls
// several sockets (the suite: IDS_suite=iowait,volume-count,http-stats,host-namespaces). {root} becomes a fresh
// plugins root, {sock} a socket path for the floor. WARM (s, default 8) is the warm-up before the window.
import { spawn } from 'node:child_process';
import { Agent } from 'node:http';
import { pollReport } from './lib/poll.mjs';
import { mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { descendantsOf, readRssKb, readSchedNs } from './lib/proc.mjs';

const seconds = Number(process.argv[2]);
const specs = process.argv.slice(3).map((s) => {
  const i = s.indexOf('=');
  return { name: s.slice(0, i), cmd: s.slice(i + 1) };
});
if (!(seconds > 0) || specs.length === 0) {
  console.error('usage: node bench/side-by-side.mjs SECONDS "name=command args..." ...');
  process.exit(2);
}
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const running = specs.map((s) => {
  const root = mkdtempSync('/tmp/sbs-');
  const argv = s.cmd.replaceAll('{root}', root).replaceAll('{sock}', join(root, 'floor.sock')).split(' ');
  const child = spawn(argv[0], argv.slice(1), { stdio: ['ignore', 'ignore', 'inherit'] });
  const id = s.name.replace(/#.*/, '');
  const socks = s.name.startsWith('floor') ? [join(root, 'floor.sock')] : (process.env[`IDS_${id}`] ?? id).split(',').map((p) => join(root, p, `${p}.sock`));
  return { ...s, child, socks, agent: new Agent({ keepAlive: true, maxSockets: 4 }) };
});
const stopAll = () => running.forEach((r) => r.child.kill('SIGKILL'));
process.on('SIGINT', () => (stopAll(), process.exit(130)));

const poll = async (r, socketPath) => (await pollReport(socketPath, r.agent)).length;
const cpuNs = (r) => readSchedNs(r.child.pid) + descendantsOf(r.child.pid).reduce((sum, pid) => sum + readSchedNs(pid), 0);

let stop = false;
const loops = running.map(async (r) => {
  while (!stop) {
    await Promise.all(r.socks.map((s) => poll(r, s)));
    await sleep(1000);
  }
});
await sleep(Number(process.env.WARM ?? 8) * 1000);
const start = running.map((r) => ({ own: readSchedNs(r.child.pid), all: cpuNs(r) }));
const sizes = await Promise.all(running.map((r) => Promise.all(r.socks.map((s) => poll(r, s)))));
await sleep(seconds * 1000);
const end = running.map((r) => ({ own: readSchedNs(r.child.pid), all: cpuNs(r) }));
stop = true;
for (const [i, r] of running.entries()) {
  const perMin = (ns) => ((ns / 1e6) * 60) / seconds;
  const kidsKb = descendantsOf(r.child.pid).reduce((sum, pid) => sum + readRssKb(pid), 0);
  console.log(
    `${r.name.padEnd(28)} node ${perMin(end[i].own - start[i].own).toFixed(0).padStart(5)} ms/min  all ${perMin(end[i].all - start[i].all).toFixed(0).padStart(5)} ms/min  rss ${(readRssKb(r.child.pid) / 1024).toFixed(1)} MiB  children ${(kidsKb / 1024).toFixed(1)} MiB  bytes ${sizes[i].join('/')}`,
  );
}
for (const r of running) r.child.kill('SIGTERM');
await Promise.race([Promise.all(loops), sleep(1500)]);
stopAll();
process.exit(0);
