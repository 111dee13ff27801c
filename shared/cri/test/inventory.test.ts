import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createLogger } from '@scope-plugins/core';
import { requireComponent } from '@scope-plugins/core/testing';
import { createCriInventory, type CriInventory } from '../src/index.js';
import { missingContainerdComponents, runTestPod, startTestContainerd, type TestContainerd } from '../src/testing/index.js';

const missing = missingContainerdComponents();
const haveContainerd = missing.length === 0 && process.getuid?.() === 0;
const howToGetContainerd = `missing ${missing.join(', ') || 'root'}: run as root after scripts/provision.sh (docker.io brings containerd, ctr and runc; podman brings containernetworking-plugins)`;

async function waitFor<T>(what: string, read: () => T | undefined, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = read();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`${what} did not happen within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe('CRI inventory against a real containerd', () => {
  let containerd: TestContainerd;
  let inventory: CriInventory;
  const logs: string[] = [];

  beforeEach((ctx) => requireComponent(ctx, 'containerd + CRI', haveContainerd, howToGetContainerd));

  beforeAll(async () => {
    if (!haveContainerd) return;
    containerd = await startTestContainerd();
    inventory = createCriInventory({ endpoint: containerd.endpoint, log: createLogger({ level: 'debug', write: (line) => logs.push(line) }), pollMs: 500 });
    await inventory.ready();
  });

  afterAll(async () => {
    await inventory?.close();
    await containerd?.dispose();
  });

  it('lists each container with its pod, its mounts as kubelet asked for them, its pid and the pod\'s host namespaces', async () => {
    const kubeletRoot = join(containerd.dir, 'kubelet');
    const hostPod = await runTestPod(containerd.cri, {
      name: 'node-agent',
      namespace: 'monitoring',
      kubeletRoot,
      hostNetwork: true,
      hostPid: true,
      volumes: [
        { name: 'config', kind: 'configMap', mountPath: '/etc/agent' },
        { name: 'kube-api-access-x7k2p', kind: 'serviceAccountToken' },
        { name: 'host-logs', kind: 'hostPath', hostPath: join(containerd.dir, 'host-logs'), mountPath: '/host/logs', readOnly: true },
      ],
    });
    const podPod = await runTestPod(containerd.cri, { name: 'web', namespace: 'shop', kubeletRoot, volumes: [{ name: 'cache', kind: 'emptyDir', mountPath: '/cache' }] });
    const [hostId] = hostPod.containerIds;
    const [podId] = podPod.containerIds;
    await waitFor('both containers listed', () => (inventory.containers().has(hostId!) && inventory.containers().has(podId!) ? true : undefined), 5000);

    const host = inventory.containers().get(hostId!)!;
    expect({ ...host, pid: host.pid > 0, mounts: host.mounts.map((m) => [m.containerPath, m.hostPath.replace(containerd.dir, '<dir>'), m.readonly]) }).toEqual({
      runtime: 'containerd',
      id: hostId,
      name: 'main',
      pod: { name: 'node-agent', namespace: 'monitoring', uid: hostPod.uid, sandboxId: hostPod.sandboxId },
      state: 'running',
      running: true,
      pid: true,
      image: 'docker.io/scope-plugins-test/busybox:latest',
      mounts: [
        ['/etc/agent', `<dir>/kubelet/pods/${hostPod.uid}/volumes/kubernetes.io~configmap/config`, true],
        ['/var/run/secrets/kubernetes.io/serviceaccount', `<dir>/kubelet/pods/${hostPod.uid}/volumes/kubernetes.io~projected/kube-api-access-x7k2p`, true],
        ['/host/logs', '<dir>/host-logs', true],
        ['/etc/hosts', `<dir>/kubelet/pods/${hostPod.uid}/etc-hosts`, false],
        ['/dev/termination-log', expect.stringMatching(new RegExp(`^<dir>/kubelet/pods/${hostPod.uid}/containers/main/`)), false],
      ],
      hostNamespaces: { network: true, pid: true, ipc: false },
    });
    // The pid is the container's real main process.
    expect(existsSync(`/proc/${host.pid}/ns/net`)).toBe(true);
    const pod = inventory.containers().get(podId!)!;
    expect([pod.pod.name, pod.pod.namespace, pod.hostNamespaces]).toEqual(['web', 'shop', { network: false, pid: false, ipc: false }]);
    await hostPod.remove();
    await podPod.remove();
  });

  it('shows a created pod\'s container within 2 s and drops a removed one within 2 s', async () => {
    const pod = await runTestPod(containerd.cri, { name: 'short-lived', namespace: 'default', kubeletRoot: join(containerd.dir, 'kubelet') });
    const id = pod.containerIds[0]!;
    const record = await waitFor('created container listed', () => inventory.containers().get(id), 2000);
    expect(record.pod.name).toBe('short-lived');
    await pod.remove();
    await waitFor('removed container dropped', () => (inventory.containers().has(id) ? undefined : true), 2000);
  });

  it('survives containerd stopping and starting again, with one log line each way', async () => {
    const pod = await runTestPod(containerd.cri, { name: 'survivor', namespace: 'default', kubeletRoot: join(containerd.dir, 'kubelet') });
    const id = pod.containerIds[0]!;
    await waitFor('container listed', () => inventory.containers().get(id), 2000);
    const before = logs.length;
    await containerd.stop();
    await waitFor('inventory down', () => (inventory.status().state === 'down' ? true : undefined), 10_000);
    expect(inventory.containers().size).toBe(0);
    await containerd.start();
    // The pod's shim kept running while containerd was away: the container is back with the same id.
    const back = await waitFor('container listed again', () => inventory.containers().get(id), 15_000);
    expect(back.running).toBe(true);
    const lines = logs.slice(before).filter((line) => /warn|info/.test(line) && /CRI/.test(line));
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/container runtime unreachable through CRI, serving no containers/);
    expect(lines[1]).toMatch(/containerd reachable through CRI; containers listed/);
    await pod.remove();
  });
});
