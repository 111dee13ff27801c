import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { createReport } from '@scope-plugins/core';
import type { CriContainerRecord, CriMount } from '@scope-plugins/cri';
import { buildKubernetesMountRows, classifyKubernetesMount, collectVolumeCounts, countKubernetesMounts, parseKubernetesMounts } from '../src/index.js';

const status = JSON.parse(readFileSync(new URL('./fixtures/containerd-1.6.20-cri-container-status.json', import.meta.url), 'utf8')) as { id: string; mounts: CriMount[] };

describe('Kubernetes mounts from kubelet paths', () => {
  it('classifies every mount of the captured containerd status by kubelet\'s layout', () => {
    expect(parseKubernetesMounts(status.mounts).map((m) => [m.type, m.volume.replace(/^\/var\/lib\/kubelet-scope-fixture-host/, '<host>'), m.destination, m.readOnly, m.isVolume])).toEqual([
      ['csi', 'pvc-0b9e2c1d-3f4a-4c5b-8d6e-7f8091a2b3c4', '/data', false, true],
      ['termination-log', '', '/dev/termination-log', false, false],
      ['configmap', 'app-config', '/etc/app', true, true],
      ['projected', 'bundle', '/etc/bundle', true, true],
      ['etc-hosts', '', '/etc/hosts', false, false],
      ['downward-api', 'podinfo', '/etc/podinfo', true, true],
      ['secret', 'tls', '/etc/tls', true, true],
      ['empty-dir', 'scratch', '/scratch', false, true],
      ['host-path', '<host>/var/log', '/var/log/host', true, true],
      ['service-account-token', 'kube-api-access-7xq2m', '/var/run/secrets/kubernetes.io/serviceaccount', true, true],
    ]);
  });

  it('counts volumes per type, leaving kubelet\'s own files out', () => {
    expect(countKubernetesMounts(parseKubernetesMounts(status.mounts))).toEqual({
      configmap: 1,
      secret: 1,
      'empty-dir': 1,
      projected: 1,
      csi: 1,
      'host-path': 1,
      'service-account-token': 1,
      other: 1,
      total: 8,
    });
  });

  it('knows subPath mounts, the pre-1.22 token secret and propagation modes', () => {
    const uid = '0f1e2d3c-4b5a-4968-8776-655443322110';
    expect(classifyKubernetesMount({ containerPath: '/etc/app/app.conf', hostPath: `/var/lib/kubelet/pods/${uid}/volume-subpaths/app-config/web/0`, readonly: false, propagation: 'PROPAGATION_HOST_TO_CONTAINER' })).toMatchObject({ type: 'subpath', volume: 'app-config', propagation: 'rslave', isVolume: true });
    expect(classifyKubernetesMount({ containerPath: '/var/run/secrets/kubernetes.io/serviceaccount', hostPath: `/var/lib/kubelet/pods/${uid}/volumes/kubernetes.io~secret/default-token-abcde`, readonly: true, propagation: 'PROPAGATION_PRIVATE' })).toMatchObject({ type: 'service-account-token', volume: 'default-token-abcde' });
    expect(classifyKubernetesMount({ containerPath: '/shared', hostPath: '/mnt/shared', readonly: false, propagation: 'PROPAGATION_BIDIRECTIONAL' })).toMatchObject({ type: 'host-path', volume: '/mnt/shared', propagation: 'rshared' });
  });

  it('builds a CRI container node in Docker\'s node shape with the pod and the counts per type', () => {
    const id = 'a'.repeat(64);
    const record: CriContainerRecord = {
      runtime: 'containerd',
      id,
      name: 'main',
      pod: { name: 'fixture', namespace: 'default', uid: '22bc28e8-95f2-4443-82a3-e70d1ebccf5b', sandboxId: 'b'.repeat(64) },
      state: 'running',
      running: true,
      pid: 1234,
      image: 'docker.io/scope-plugins-test/busybox:latest',
      mounts: status.mounts,
      hostNamespaces: { network: true, pid: false, ipc: false },
    };
    const report = createReport(new Date('2026-11-30T04:00:00.000Z'));
    collectVolumeCounts(report, { containers: () => new Map([[id, record]]) });
    const nodes = report.build().Container?.nodes ?? {};
    expect(Object.keys(nodes)).toEqual([`${id};<container>`]);
    const values = Object.fromEntries(Object.entries(nodes[`${id};<container>`]?.latest ?? {}).map(([k, v]) => [k, v.value]));
    const counts = Object.fromEntries(Object.entries(values).filter(([k]) => !k.startsWith('volume_count_mount_')));
    expect(counts).toEqual({
      volume_count: '8',
      volume_count_pod_name: 'fixture',
      volume_count_pod_namespace: 'default',
      volume_count_k8s_configmap: '1',
      volume_count_k8s_secret: '1',
      volume_count_k8s_empty_dir: '1',
      volume_count_k8s_projected: '1',
      volume_count_k8s_csi: '1',
      volume_count_k8s_host_path: '1',
      volume_count_k8s_service_account_token: '1',
      volume_count_k8s_other: '1',
    });
    expect(values).toMatchObject({
      volume_count_mount_000___type: 'csi',
      volume_count_mount_000___source: 'pvc-0b9e2c1d-3f4a-4c5b-8d6e-7f8091a2b3c4',
      volume_count_mount_000___details: 'rprivate',
      volume_count_mount_001___type: 'termination-log',
      volume_count_mount_004___type: 'etc-hosts',
      volume_count_mount_004___details: 'rprivate, kubelet file (not a volume)',
    });
    expect(Object.keys(buildKubernetesMountRows(parseKubernetesMounts(status.mounts)))).toHaveLength(10);
  });
});
