#!/usr/bin/env node
// Benchmark (not a test): the steady cost of following a CRI runtime. A real containerd 1.6 with CRI (started
// here, own root/state/socket) runs N host-network pods; the volume-count CLI follows it through CRI (as in the
// DaemonSet: SCOPE_CONTAINER_RUNTIME=containerd, CONTAINER_RUNTIME_ENDPOINT) and serves reports on its socket.
// After a 5 s warm-up, the plugin's and containerd's CPU (utime+stime from /proc/<pid>/stat) over 30 s.
// Run (root): TURBO_TELEMETRY_DISABLED=1 pnpm run build && node bench/cri-plugin.mjs [N...]   (default N = 10 50)
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { runTestPod, startTestContainerd } from '../shared/cri/dist/testing/index.js';

const counts = process.argv.slice(2).map(Number).filter((n) => n > 0);
const sizes = counts.length > 0 ? counts : [10, 50];
const WINDOW_S = 30;
const cli = new URL('../plugins/volume-count/dist/cli.js', import.meta.url).pathname;
const ticks = (pid) => {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return Number(fields[11]) + Number(fields[12]);
};

const containerd = await startTestContainerd();
const rows = [];
let made = 0;
try {
  for (const n of sizes) {
    for (; made < n; made++) {
      await runTestPod(containerd.cri, {
        name: `bench-${made}`,
        namespace: 'bench',
        kubeletRoot: join(containerd.dir, 'kubelet'),
        hostNetwork: true,
        volumes: [{ name: 'cfg', kind: 'configMap', mountPath: '/etc/cfg' }, { name: 'kube-api-access-bench', kind: 'serviceAccountToken' }],
      });
    }
    const plugin = spawn(process.execPath, [cli, '--root', join(containerd.dir, `root-${n}`), '--log-level', 'warn'], {
      stdio: 'ignore',
      env: { ...process.env, SCOPE_HOSTNAME: 'bench', SCOPE_CONTAINER_RUNTIME: 'containerd', CONTAINER_RUNTIME_ENDPOINT: containerd.endpoint },
    });
    await delay(5000);
    const p0 = ticks(plugin.pid);
    const c0 = ticks(containerd.pid());
    await delay(WINDOW_S * 1000);
    const pluginMsPerS = ((ticks(plugin.pid) - p0) * 10) / WINDOW_S;
    const containerdMsPerS = ((ticks(containerd.pid()) - c0) * 10) / WINDOW_S;
    const rssMiB = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${plugin.pid}/status`, 'utf8'))[1]) / 1024;
    plugin.kill('SIGTERM');
    await new Promise((resolve) => plugin.once('exit', resolve));
    rows.push({ n, pluginMsPerS, containerdMsPerS, rssMiB });
    console.error(`N=${n} done`);
  }
} finally {
  await containerd.dispose();
}
console.log(`volume-count following containerd 1.6.20 through CRI (1 s poll, 1 s collection), ${WINDOW_S} s window after 5 s warm-up, Node ${process.version}, 2 shared cores.\n`);
console.log('| containers | plugin CPU ms/s | containerd CPU ms/s | plugin RSS MiB |');
console.log('|---:|---:|---:|---:|');
for (const r of rows) console.log(`| ${r.n} | ${r.pluginMsPerS.toFixed(1)} | ${r.containerdMsPerS.toFixed(1)} | ${r.rssMiB.toFixed(0)} |`);
