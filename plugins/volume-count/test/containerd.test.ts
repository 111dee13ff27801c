import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { containerNodeId, hasProblems, type Report, type ReportNode } from '@scope-plugins/core';
import { requireComponent, startTestPlugin, type TestPlugin } from '@scope-plugins/core/testing';
import { missingContainerdComponents, runTestPod, startTestContainerd, type TestContainerd, type TestPod } from '@scope-plugins/cri/testing';
import { MOUNTS_TABLE_PREFIX, plugin } from '../src/index.js';

const CLI = fileURLToPath(new URL('../dist/cli.js', import.meta.url));
const missing = missingContainerdComponents();
const haveContainerd = missing.length === 0 && process.getuid?.() === 0;
const howToGetContainerd = `missing ${missing.join(', ') || 'root'}: run as root after scripts/provision.sh (docker.io brings containerd, ctr and runc; podman brings containernetworking-plugins)`;

function containerNodes(report: Report): Record<string, ReportNode> {
  return report.Container?.nodes ?? {};
}

/** The node's latest values, mounts table left out. */
function valuesOf(node: ReportNode | undefined): Record<string, string> {
  return Object.fromEntries(Object.entries(node?.latest ?? {}).filter(([k]) => !k.startsWith(MOUNTS_TABLE_PREFIX)).map(([k, v]) => [k, v.value]));
}

/** The mounts table as Scope renders it: destination → type. */
function typesByDestination(node: ReportNode | undefined): Record<string, string> {
  const rows: Record<string, Record<string, string>> = {};
  for (const [key, entry] of Object.entries(node?.latest ?? {})) {
    if (!key.startsWith(MOUNTS_TABLE_PREFIX)) continue;
    const [row, column] = key.slice(MOUNTS_TABLE_PREFIX.length).split('___') as [string, string];
    (rows[row] ??= {})[column] = entry.value;
  }
  return Object.fromEntries(Object.values(rows).map((row) => [row['destination']!, row['type']!]));
}

describe('volume-count against a real containerd (CRI)', () => {
  let containerd: TestContainerd;
  let served: TestPlugin;
  let kubeletRoot: string;
  const pods: TestPod[] = [];

  beforeEach((ctx) => requireComponent(ctx, 'containerd + CRI', haveContainerd, howToGetContainerd));

  beforeAll(async () => {
    if (!haveContainerd) return;
    containerd = await startTestContainerd();
    kubeletRoot = join(containerd.dir, 'kubelet');
    served = await startTestPlugin(plugin, { options: { containerRuntime: 'auto', runtimeEndpoint: containerd.endpoint } });
  });

  afterAll(async () => {
    await served?.stop();
    await containerd?.dispose();
  });

  it('says in one line which runtime it uses and why', () => {
    expect(served.logs.filter((line) => line.includes('container runtime:'))).toEqual([
      expect.stringContaining(`container runtime: a CRI runtime through CRI (runtime endpoint ${containerd.endpoint} given)`),
    ]);
  });

  it('counts each container\'s volumes by Kubernetes type as the pod spec declared them, with its pod', async () => {
    // Two containers of one pod sharing its volumes; every kind kubelet lays out, plus a hostPath.
    const pod = await runTestPod(containerd.cri, {
      name: 'shop-api-7d9f8',
      namespace: 'shop',
      kubeletRoot,
      containers: [{ name: 'api' }, { name: 'sidecar' }],
      volumes: [
        { name: 'settings', kind: 'configMap', mountPath: '/etc/settings' },
        { name: 'features', kind: 'configMap', mountPath: '/etc/features' },
        { name: 'db-credentials', kind: 'secret', mountPath: '/etc/db' },
        { name: 'cache', kind: 'emptyDir', mountPath: '/cache' },
        { name: 'bundle', kind: 'projected', mountPath: '/etc/bundle' },
        { name: 'pvc-5a1c7e9b-2d4f-4a6b-9c8d-0e1f2a3b4c5d', kind: 'csi', mountPath: '/data' },
        { name: 'node-logs', kind: 'hostPath', hostPath: join(containerd.dir, 'node-logs'), mountPath: '/var/log/node', readOnly: true },
        { name: 'kube-api-access-q8w2z', kind: 'serviceAccountToken' },
      ],
    });
    pods.push(pod);
    const report = await served.waitForReport((r) => pod.containerIds.every((id) => containerNodeId(id) in containerNodes(r)), 5000);
    for (const [index, id] of pod.containerIds.entries()) {
      const node = containerNodes(report)[containerNodeId(id)];
      expect(valuesOf(node), ['api', 'sidecar'][index]).toEqual({
        volume_count: '8',
        volume_count_pod_name: 'shop-api-7d9f8',
        volume_count_pod_namespace: 'shop',
        volume_count_k8s_configmap: '2',
        volume_count_k8s_secret: '1',
        volume_count_k8s_empty_dir: '1',
        volume_count_k8s_projected: '1',
        volume_count_k8s_csi: '1',
        volume_count_k8s_host_path: '1',
        volume_count_k8s_service_account_token: '1',
        volume_count_k8s_other: '0',
      });
      expect(typesByDestination(node)).toEqual({
        '/cache': 'empty-dir',
        '/data': 'csi',
        '/dev/termination-log': 'termination-log',
        '/etc/bundle': 'projected',
        '/etc/db': 'secret',
        '/etc/features': 'configmap',
        '/etc/hosts': 'etc-hosts',
        '/etc/settings': 'configmap',
        '/var/log/node': 'host-path',
        '/var/run/secrets/kubernetes.io/serviceaccount': 'service-account-token',
      });
    }
    // Only CRI containers are served: containerd's sandboxes (pause containers) are not containers to Scope.
    expect(Object.keys(containerNodes(report)).sort()).toEqual(pod.containerIds.map(containerNodeId).sort());
  });

  it('takes the runtime from SCOPE_CONTAINER_RUNTIME and CONTAINER_RUNTIME_ENDPOINT, as the DaemonSet sets them (the CLI with --once)', async () => {
    const pod = pods[0]!;
    const env = { ...process.env, SCOPE_CONTAINER_RUNTIME: 'containerd', CONTAINER_RUNTIME_ENDPOINT: containerd.endpoint };
    const stdout = await new Promise<string>((resolve, reject) =>
      execFile('node', [CLI, '--once', '--root', join(containerd.dir, 'plugins-root')], { env, timeout: 30_000, maxBuffer: 16 * 1024 * 1024 }, (error, out, err) => (error ? reject(new Error(err || error.message)) : resolve(out))),
    );
    const report = JSON.parse(stdout) as Report;
    expect(Object.keys(containerNodes(report)).sort()).toEqual(pod.containerIds.map(containerNodeId).sort());
    expect(valuesOf(containerNodes(report)[containerNodeId(pod.containerIds[0]!)])).toMatchObject({ volume_count: '8', volume_count_k8s_configmap: '2', volume_count_pod_namespace: 'shop' });
  });

  it('shows a created pod\'s container within 2 s and drops it within 2 s of the pod\'s removal', async () => {
    const pod = await runTestPod(containerd.cri, { name: 'batch-job', namespace: 'jobs', kubeletRoot, volumes: [{ name: 'work', kind: 'emptyDir', mountPath: '/work' }] });
    const nodeId = containerNodeId(pod.containerIds[0]!);
    const report = await served.waitForReport((r) => nodeId in containerNodes(r), 2000);
    expect(valuesOf(containerNodes(report)[nodeId])).toMatchObject({ volume_count: '1', volume_count_k8s_empty_dir: '1', volume_count_pod_name: 'batch-job' });
    await pod.remove();
    await served.waitForReport((r) => !(nodeId in containerNodes(r)), 2000);
  });

  it('serves no containers while containerd is stopped and all of them again after it restarts, one log line each way', async () => {
    const before = served.logs.length;
    const ids = pods.flatMap((p) => p.containerIds).map(containerNodeId);
    await containerd.stop();
    await served.waitForReport((r) => Object.keys(containerNodes(r)).length === 0, 15_000);
    await containerd.start();
    const report = await served.waitForReport((r) => ids.every((id) => id in containerNodes(r)), 15_000);
    expect(valuesOf(containerNodes(report)[ids[0]!])['volume_count']).toBe('8');
    const lines = served.logs.slice(before).filter((line) => /"level":"(warn|info)"|\b(warn|info)\b/.test(line) && /CRI/.test(line));
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/container runtime unreachable through CRI/);
    expect(lines[1]).toMatch(/containerd reachable through CRI/);
    expect(hasProblems(await served.doctor())).toBe(false);
  });
});
