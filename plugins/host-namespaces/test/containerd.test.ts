import { mkdir, readlink, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { containerNodeId, type Report } from '@scope-plugins/core';
import { requireComponent, startTestPlugin, type TestPlugin } from '@scope-plugins/core/testing';
import { missingContainerdComponents, runTestPod, startTestContainerd, type TestContainerd, type TestPod } from '@scope-plugins/cri/testing';
import { CONTAINER_NS_PREFIX, SHARED_KEY, plugin } from '../src/index.js';

const missing = missingContainerdComponents();
const haveContainerd = missing.length === 0 && process.getuid?.() === 0;
const HOW_TO_GET_CONTAINERD = `missing ${missing.join(', ') || 'root'}: run as root after scripts/provision.sh (docker.io brings containerd, ctr and runc; podman brings containernetworking-plugins)`;

async function inode(pid: number, type: string): Promise<string> {
  return /\[(\d+)\]/.exec(await readlink(`/proc/${pid}/ns/${type}`))?.[1] ?? 'unreadable';
}

describe('container namespaces of CRI pods against a real containerd', () => {
  let containerd: TestContainerd;
  let test: TestPlugin;
  const pods: Record<'hostNetwork' | 'isolated' | 'hostPidIpc', TestPod> = {} as never;

  beforeEach((ctx) => requireComponent(ctx, 'containerd + CRI', haveContainerd, HOW_TO_GET_CONTAINERD));

  beforeAll(async () => {
    if (!haveContainerd) return;
    containerd = await startTestContainerd();
    const kubeletRoot = join(containerd.dir, 'kubelet');
    pods.hostNetwork = await runTestPod(containerd.cri, { name: 'node-exporter', namespace: 'monitoring', kubeletRoot, hostNetwork: true });
    pods.isolated = await runTestPod(containerd.cri, { name: 'web', namespace: 'shop', kubeletRoot });
    pods.hostPidIpc = await runTestPod(containerd.cri, { name: 'debugger', namespace: 'kube-system', kubeletRoot, hostPid: true, hostIpc: true });
    test = await startTestPlugin(plugin, { intervalMs: 300, options: { containerRuntime: 'containerd', runtimeEndpoint: containerd.endpoint } });
  });

  afterAll(async () => {
    await test?.stop();
    await containerd?.dispose();
  });

  const latestOf = (report: Report, pod: TestPod, key: string) => report.Container?.nodes?.[containerNodeId(pod.containerIds[0]!)]?.latest?.[key]?.value;

  it('flags host network, host PID and host IPC pods by comparing the containers\' namespace inodes with the host\'s', async () => {
    const report = await test.waitForReport((r) => Object.values(pods).every((p) => latestOf(r, p, SHARED_KEY) !== undefined), 10_000);
    const shared = (name: keyof typeof pods) => latestOf(report, pods[name], SHARED_KEY)?.split(', ') ?? [];
    expect(shared('hostNetwork')).toContain('net');
    expect(shared('hostNetwork')).not.toContain('pid');
    expect(shared('hostNetwork')).not.toContain('ipc');
    expect(shared('isolated')).not.toContain('net');
    expect(shared('isolated')).not.toContain('pid');
    expect(shared('isolated')).not.toContain('ipc');
    expect(shared('hostPidIpc')).toEqual(expect.arrayContaining(['pid', 'ipc']));
    expect(shared('hostPidIpc')).not.toContain('net');
    expect(test.logs.filter((line) => line.includes('container runtime:'))).toEqual([expect.stringContaining('container runtime: containerd through CRI (--container-runtime containerd)')]);
  });

  it('lists each container\'s namespace inodes as the kernel reports them for its main process', async () => {
    const report = await test.waitForReport((r) => latestOf(r, pods.hostNetwork, `${CONTAINER_NS_PREFIX}net`) !== undefined, 10_000);
    const status = await containerd.cri.containerStatus(pods.hostNetwork.containerIds[0]!, true);
    const pid = (JSON.parse(status.info['info']!) as { pid: number }).pid;
    expect(latestOf(report, pods.hostNetwork, `${CONTAINER_NS_PREFIX}net`)).toBe(`${await inode(pid, 'net')} (host)`);
    expect(latestOf(report, pods.hostNetwork, `${CONTAINER_NS_PREFIX}mnt`)).toBe(await inode(pid, 'mnt'));
  });

  it('falls back to what each pod declared, marked as such, when the containers\' processes are not in the proc root', async () => {
    // A proc root holding only the host's pids 1 and 2 (the host reference; pid 1 is unreadable in some
    // sandboxes, then kthreadd is used): no container's main pid is in it.
    const procRoot = join(containerd.dir, 'proc-host-only');
    await mkdir(procRoot, { recursive: true });
    for (const pid of ['1', '2']) await symlink(`/proc/${pid}`, join(procRoot, pid));
    const narrow = await startTestPlugin(plugin, { intervalMs: 300, procRoot, options: { containerRuntime: 'containerd', runtimeEndpoint: containerd.endpoint } });
    try {
      const report = await narrow.waitForReport((r) => Object.values(pods).every((p) => latestOf(r, p, SHARED_KEY) !== undefined), 10_000);
      expect(Object.fromEntries(Object.entries(pods).map(([name, pod]) => [name, latestOf(report, pod, SHARED_KEY)]))).toEqual({
        hostNetwork: 'net (declared by the pod)',
        isolated: 'none (declared by the pod)',
        hostPidIpc: 'pid, ipc (declared by the pod)',
      });
    } finally {
      await narrow.stop();
    }
  });
});
