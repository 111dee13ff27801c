#!/usr/bin/env node
// Benchmark (not a test): the cost of each way tried to read a Kubernetes node's containers, against a real,
// isolated containerd 1.6 with CRI (started here, own root/state/socket) running N host-network pods of one
// container each (4 volumes per container, laid out as kubelet does):
//   A. CRI gRPC (what @scope-plugins/cri uses): the steady poll (ListPodSandbox + ListContainers), and a
//      cold full read (lists + PodSandboxStatus per pod + verbose ContainerStatus per container).
//   B. containerd's on-disk OCI bundles: readdir of <state>/io.containerd.runtime.v2.task/k8s.io and a
//      read + JSON.parse of every config.json (sandboxes included: the directory holds both).
// Figures: wall time and this process's CPU per round (process.cpuUsage), and containerd's own CPU
// (utime+stime from /proc/<pid>/stat) over all rounds of a method.
// Run: TURBO_TELEMETRY_DISABLED=1 pnpm run build && node bench/cri.mjs [N...]   (root; default N = 10 50)
import { readFileSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { runTestPod, startTestContainerd } from '../shared/cri/dist/testing/index.js';

const counts = process.argv.slice(2).map(Number).filter((n) => n > 0);
const sizes = counts.length > 0 ? counts : [10, 50];
const ROUNDS = 50;
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const ticks = (pid) => {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return Number(fields[11]) + Number(fields[12]);
};

async function measure(pid, round) {
  const wall = [];
  const cpu = [];
  await round(); // warm-up: channel connected, code paths compiled
  const before = ticks(pid);
  for (let i = 0; i < ROUNDS; i++) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    await round();
    wall.push(performance.now() - t0);
    const c = process.cpuUsage(c0);
    cpu.push((c.user + c.system) / 1000);
  }
  return { wallMs: median(wall), cpuMs: median(cpu), runtimeCpuMsPerRound: ((ticks(pid) - before) * 10) / ROUNDS };
}

const containerd = await startTestContainerd();
const rows = [];
let made = 0;
try {
  const { cri } = containerd;
  const taskDir = join(containerd.stateDir, 'io.containerd.runtime.v2.task', 'k8s.io');
  for (const n of sizes) {
    for (; made < n; made++) {
      await runTestPod(cri, {
        name: `bench-${made}`,
        namespace: 'bench',
        kubeletRoot: join(containerd.dir, 'kubelet'),
        hostNetwork: true,
        volumes: [
          { name: 'cfg', kind: 'configMap', mountPath: '/etc/cfg' },
          { name: 'tmp', kind: 'emptyDir', mountPath: '/tmp/work' },
          { name: 'kube-api-access-bench', kind: 'serviceAccountToken' },
          { name: 'logs', kind: 'hostPath', hostPath: join(containerd.dir, 'logs'), mountPath: '/var/log/host' },
        ],
      });
    }
    const pid = containerd.pid();
    const poll = await measure(pid, () => Promise.all([cri.listPodSandboxes(), cri.listContainers()]));
    const cold = await measure(pid, async () => {
      const [pods, containers] = await Promise.all([cri.listPodSandboxes(), cri.listContainers()]);
      await Promise.all(pods.map((p) => cri.podSandboxStatus(p.id)));
      await Promise.all(containers.map((c) => cri.containerStatus(c.id, true)));
    });
    const disk = await measure(pid, async () => {
      const ids = await readdir(taskDir);
      await Promise.all(ids.map(async (id) => JSON.parse(await readFile(join(taskDir, id, 'config.json'), 'utf8'))));
    });
    const listOnly = await measure(pid, () => readdir(taskDir));
    const sizeOf = async (id) => (await readFile(join(taskDir, id, 'config.json'))).length;
    const ids = await readdir(taskDir);
    const bytes = (await Promise.all(ids.map(sizeOf))).reduce((a, b) => a + b, 0);
    const verbose = await cri.containerStatus((await cri.listContainers())[0].id, true);
    rows.push({ n, poll, cold, disk, listOnly, configBytesPerBundle: Math.round(bytes / ids.length), verboseStatusBytes: JSON.stringify(verbose).length });
    console.error(`N=${n} done`);
  }
} finally {
  await containerd.dispose();
}

const f = (x) => x.toFixed(2);
console.log(`containerd 1.6.20 (Debian 12), ${ROUNDS} rounds per figure (median), Node ${process.version}, 2 shared cores.\n`);
console.log('| containers | method | wall ms | our CPU ms | containerd CPU ms |');
console.log('|---:|---|---:|---:|---:|');
for (const r of rows) {
  console.log(`| ${r.n} | CRI poll: ListPodSandbox + ListContainers | ${f(r.poll.wallMs)} | ${f(r.poll.cpuMs)} | ${f(r.poll.runtimeCpuMsPerRound)} |`);
  console.log(`| ${r.n} | CRI cold read: lists + ${r.n} PodSandboxStatus + ${r.n} verbose ContainerStatus | ${f(r.cold.wallMs)} | ${f(r.cold.cpuMs)} | ${f(r.cold.runtimeCpuMsPerRound)} |`);
  console.log(`| ${r.n} | disk: readdir + ${2 * r.n} config.json (read + parse) | ${f(r.disk.wallMs)} | ${f(r.disk.cpuMs)} | ${f(r.disk.runtimeCpuMsPerRound)} |`);
  console.log(`| ${r.n} | disk: readdir only | ${f(r.listOnly.wallMs)} | ${f(r.listOnly.cpuMs)} | ${f(r.listOnly.runtimeCpuMsPerRound)} |`);
}
console.log('');
for (const r of rows) console.log(`N=${r.n}: config.json ${r.configBytesPerBundle} bytes per bundle on average; one verbose ContainerStatus answer ${r.verboseStatusBytes} bytes as JSON.`);
