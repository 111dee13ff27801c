import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { containerNodeId, type Report, type ReportNode } from '@scope-plugins/core';
import { requireComponent, startTestPlugin, type TestPlugin } from '@scope-plugins/core/testing';
import { isDockerdInstalled, isPodmanInstalled, runDocker, startTestPodman, type TestPodman } from '@scope-plugins/docker/testing';
import { MOUNTS_TABLE_PREFIX, plugin } from '../src/index.js';

const IMAGE = 'scope-plugins-test/busybox:latest';
// podman names images loaded from a docker save with the localhost/ registry.
const PODMAN_IMAGE = `localhost/${IMAGE}`;
const haveDockerd = isDockerdInstalled();
const havePodman = isPodmanInstalled();

interface Inspect {
  Mounts: Array<{ Type: string; Name?: string; Source: string; Destination: string; Driver?: string; RW: boolean; Propagation: string }>;
  HostConfig: { Tmpfs?: Record<string, string> | null };
}

const nodesOf = (report: Report): Record<string, ReportNode> => report.Container?.nodes ?? {};

function tableOf(node: ReportNode | undefined): Record<string, Record<string, string>> {
  const rows: Record<string, Record<string, string>> = {};
  for (const [key, entry] of Object.entries(node?.latest ?? {})) {
    if (!key.startsWith(MOUNTS_TABLE_PREFIX)) continue;
    const [row, column] = key.slice(MOUNTS_TABLE_PREFIX.length).split('___') as [string, string];
    (rows[row] ??= {})[column] = entry.value;
  }
  return rows;
}

describe('volume-count against podman\'s Docker-compatible API', () => {
  let podman: TestPodman;
  let served: TestPlugin;
  let bindDir: string;
  let allId: string;

  const allIds = async () => (await podman.podman(['ps', '-aq', '--no-trunc'])).split('\n').filter((l) => l !== '').sort();

  beforeEach((ctx) => {
    requireComponent(ctx, 'dockerd', haveDockerd, 'run scripts/provision.sh');
    requireComponent(ctx, 'podman', havePodman, 'apt-get install -y --no-install-recommends podman (Debian 12: podman 4.3)');
  });

  beforeAll(async () => {
    if (!(haveDockerd && havePodman)) return;
    podman = await startTestPodman({ images: [IMAGE] });
    bindDir = await mkdtemp(join(tmpdir(), 'vc-pbind-'));
    allId = await podman.podman([
      'create', '--name', 'p-all', '-v', 'pnamed:/data', '-v', '/anon', '-v', `${bindDir}:/bind:ro`,
      '--tmpfs', '/scratch:size=1m', '--mount', 'type=tmpfs,destination=/mtmp,tmpfs-size=65536', PODMAN_IMAGE,
    ]);
    await podman.podman(['run', '-d', '--name', 'p-run', PODMAN_IMAGE]);
    served = await startTestPlugin(plugin, { options: { dockerHost: podman.dockerHost, dockerResyncMs: 60_000 } });
  }, 120_000);

  afterAll(async () => {
    await served?.stop();
    await podman?.dispose();
    if (bindDir) await rm(bindDir, { recursive: true, force: true });
  }, 120_000);

  it('serves every podman container with counts and cells equal to docker inspect over the same API', async () => {
    const expected = (await allIds()).map(containerNodeId);
    expect(expected).toHaveLength(2);
    const report = await served.waitForReport((r) => Object.keys(nodesOf(r)).length === expected.length, 5000);
    expect(Object.keys(nodesOf(report)).sort()).toEqual(expected);

    const info = (JSON.parse(await runDocker(['inspect', allId], { dockerHost: podman.dockerHost })) as Inspect[])[0]!;
    const tmpfs = info.HostConfig.Tmpfs ?? {};
    const mount = (destination: string) => info.Mounts.find((m) => m.Destination === destination)!;
    const node = nodesOf(report)[containerNodeId(allId)];
    const latest = (key: string) => node?.latest?.[key]?.value;
    expect([latest('volume_count'), latest('volume_count_volumes'), latest('volume_count_binds'), latest('volume_count_tmpfs')]).toEqual([
      String(info.Mounts.length + Object.keys(tmpfs).length),
      String(info.Mounts.filter((m) => m.Type === 'volume').length),
      String(info.Mounts.filter((m) => m.Type === 'bind').length),
      String(info.Mounts.filter((m) => m.Type === 'tmpfs').length + Object.keys(tmpfs).length),
    ]);
    expect(latest('volume_count')).toBe('5');
    expect(tableOf(node)).toEqual({
      '000': { type: 'volume', source: `${mount('/anon').Name!.slice(0, 12)} (anonymous)`, destination: '/anon', read_only: 'no', details: `${mount('/anon').Driver!}, full name ${mount('/anon').Name!}` },
      '001': { type: 'bind', source: bindDir, destination: '/bind', read_only: 'yes', details: mount('/bind').Propagation },
      '002': { type: 'volume', source: 'pnamed', destination: '/data', read_only: 'no', details: mount('/data').Driver! },
      '003': { type: 'tmpfs', source: 'tmpfs', destination: '/mtmp', read_only: 'no', details: tmpfs['/mtmp']! },
      '004': { type: 'tmpfs', source: 'tmpfs', destination: '/scratch', read_only: 'no', details: tmpfs['/scratch']! },
    });
    const diagnosis = await served.doctor();
    expect(diagnosis.violations.filter((v) => v.kind !== 'note')).toEqual([]);
  });

  it('follows a podman container created and removed within 2 s (podman sends remove, not destroy)', async () => {
    const id = await podman.podman(['create', '--name', 'p-new', PODMAN_IMAGE]);
    await served.waitForReport((r) => containerNodeId(id) in nodesOf(r), 2000);
    await podman.podman(['rm', id]);
    await served.waitForReport((r) => !(containerNodeId(id) in nodesOf(r)), 2000);
  });
});
