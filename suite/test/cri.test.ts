/**
 * The suite on a Kubernetes-like node: containerd with CRI (started by the test, own root/state/socket), no
 * Docker socket in play. volume-count and host-namespaces share ONE CRI inventory (one poll loop, one log line
 * per runtime state change) and both serve the pod's container.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { lstat, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { containerNodeId, pluginSocketPath, pollReport, type Report } from '@scope-plugins/core';
import { requireComponent } from '@scope-plugins/core/testing';
import { missingContainerdComponents, runTestPod, startTestContainerd, type TestContainerd, type TestPod } from '@scope-plugins/cri/testing';
import { SHARED_KEY } from '@scope-plugins/host-namespaces';
import { VOLUME_COUNT_KEY } from '@scope-plugins/volume-count';

const CLI = new URL('../dist/cli.js', import.meta.url).pathname;
const missing = missingContainerdComponents();
const haveContainerd = missing.length === 0 && process.getuid?.() === 0;
const howToGetContainerd = `missing ${missing.join(', ') || 'root'}: run as root after scripts/provision.sh (containerd, ctr, runc, containernetworking-plugins)`;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('scope-plugins run on containerd (CRI)', () => {
  let containerd: TestContainerd;
  let pod: TestPod;
  let root: string;
  let child: ChildProcess | undefined;
  let stderr = '';

  beforeEach((ctx) => requireComponent(ctx, 'containerd + CRI', haveContainerd, howToGetContainerd));

  beforeAll(async () => {
    if (!haveContainerd) return;
    containerd = await startTestContainerd();
    pod = await runTestPod(containerd.cri, {
      name: 'agent',
      namespace: 'monitoring',
      kubeletRoot: join(containerd.dir, 'kubelet'),
      hostNetwork: true,
      volumes: [
        { name: 'config', kind: 'configMap', mountPath: '/etc/agent' },
        { name: 'kube-api-access-k2x9d', kind: 'serviceAccountToken' },
      ],
    });
    root = await mkdtemp(join(tmpdir(), 'sp-suite-cri-'));
    child = spawn(process.execPath, [CLI, 'run', 'host-namespaces', 'volume-count', '--root', root, '--log-level', 'info', '--container-runtime', 'containerd', '--runtime-endpoint', containerd.endpoint], {
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { ...process.env, SCOPE_HOSTNAME: 'suite-cri-host' },
    });
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  });

  afterAll(async () => {
    if (child && child.exitCode === null) {
      child.kill('SIGTERM');
      await new Promise((resolve) => child!.once('close', resolve));
    }
    await containerd?.dispose();
    if (root) await rm(root, { recursive: true, force: true });
  });

  const reportOf = async (id: string): Promise<Report | undefined> => {
    const socket = pluginSocketPath(root, id);
    if (!(await lstat(socket).then(() => true, () => false))) return undefined;
    const poll = await pollReport(socket, undefined, 2000);
    return poll.ok && poll.statusCode === 200 ? (JSON.parse(poll.body) as Report) : undefined;
  };
  const latest = (report: Report | undefined, key: string) => report?.Container?.nodes?.[containerNodeId(pod.containerIds[0]!)]?.latest?.[key]?.value;
  const bothServe = async (deadlineMs: number) => {
    const deadline = Date.now() + deadlineMs;
    for (;;) {
      const [ns, vc] = await Promise.all([reportOf('host-namespaces'), reportOf('volume-count')]);
      if (latest(ns, SHARED_KEY) !== undefined && latest(vc, VOLUME_COUNT_KEY) !== undefined) return { ns: ns!, vc: vc! };
      if (Date.now() > deadline) throw new Error(`the pod's container is not served by both plugins within ${deadlineMs} ms; log:\n${stderr}`);
      await sleep(200);
    }
  };
  const lines = (pattern: RegExp) => stderr.split('\n').filter((line) => pattern.test(line));
  const linesReach = async (pattern: RegExp, count: number, deadlineMs: number) => {
    const deadline = Date.now() + deadlineMs;
    while (lines(pattern).length < count && Date.now() < deadline) await sleep(100);
  };
  const neitherServes = async (deadlineMs: number) => {
    const deadline = Date.now() + deadlineMs;
    for (;;) {
      const [ns, vc] = await Promise.all([reportOf('host-namespaces'), reportOf('volume-count')]);
      if (latest(ns, SHARED_KEY) === undefined && latest(vc, VOLUME_COUNT_KEY) === undefined) return;
      if (Date.now() > deadline) throw new Error(`the pod's container is still served ${deadlineMs} ms after containerd stopped; log:\n${stderr}`);
      await sleep(200);
    }
  };

  it('serves the pod\'s container from both plugins through one shared CRI inventory', async () => {
    const { ns, vc } = await bothServe(20_000);
    expect(latest(ns, SHARED_KEY)?.split(', ')).toContain('net');
    expect(latest(vc, VOLUME_COUNT_KEY)).toBe('2');
    expect(latest(vc, 'volume_count_pod_name')).toBe('agent');
    // One inventory for the process: one "reachable" line, not one per plugin.
    expect(lines(/containerd reachable through CRI/)).toHaveLength(1);
  });

  it('logs a containerd restart once for both plugins, and both serve the container again', async () => {
    await containerd.stop();
    const deadline = Date.now() + 15_000;
    while (lines(/container runtime unreachable through CRI/).length === 0 && Date.now() < deadline) await sleep(100);
    // The inventory empties while containerd is down: wait until neither plugin serves the container, so that
    // serving it again below really comes from the restarted runtime, not from a collection made before the stop.
    await neitherServes(15_000);
    await containerd.start();
    await bothServe(20_000);
    // The log arrives through the child's stderr pipe, independently of the socket answers: give it a moment.
    await linesReach(/containerd reachable through CRI/, 2, 5_000);
    expect(lines(/container runtime unreachable through CRI/)).toHaveLength(1);
    expect(lines(/containerd reachable through CRI/)).toHaveLength(2);
  });
});
