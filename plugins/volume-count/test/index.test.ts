import { spawn, execFile } from 'node:child_process';
import { chown, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { containerNodeId, createLogger, createMetricsHub, parseListenAddress, type Report, type ReportNode } from '@scope-plugins/core';
import { pollReport, renderNode, requireComponent, startTestPlugin, type TestPlugin } from '@scope-plugins/core/testing';
import { isDockerdInstalled, startTestDockerd, type TestDockerd } from '@scope-plugins/docker/testing';
import { MOUNTS_TABLE_PREFIX, plugin } from '../src/index.js';

const IMAGE = 'scope-plugins-test/busybox:latest';
const CLI = fileURLToPath(new URL('../dist/cli.js', import.meta.url));
const haveDocker = isDockerdInstalled();

/** The part of `docker inspect` the expectations are written from. */
interface Inspect {
  Id: string;
  Mounts: Array<{ Type: string; Name?: string; Source: string; Destination: string; Driver?: string; RW: boolean; Propagation: string }>;
  HostConfig: { Tmpfs?: Record<string, string> | null };
}

function containerNodes(report: Report): Record<string, ReportNode> {
  return report.Container?.nodes ?? {};
}

/** The mounts table of a node as Scope renders it: row id → column id → cell. */
function tableOf(node: ReportNode | undefined): Record<string, Record<string, string>> {
  const rows: Record<string, Record<string, string>> = {};
  for (const [key, entry] of Object.entries(node?.latest ?? {})) {
    if (!key.startsWith(MOUNTS_TABLE_PREFIX)) continue;
    const [row, column] = key.slice(MOUNTS_TABLE_PREFIX.length).split('___') as [string, string];
    (rows[row] ??= {})[column] = entry.value;
  }
  return rows;
}

function countsOf(node: ReportNode | undefined): Record<string, string | undefined> {
  const latest = node?.latest ?? {};
  return {
    total: latest['volume_count']?.value,
    volume: latest['volume_count_volumes']?.value,
    bind: latest['volume_count_binds']?.value,
    tmpfs: latest['volume_count_tmpfs']?.value,
  };
}

function run(file: string, args: string[], options: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(file, args, { env: options.env ?? process.env, timeout: options.timeoutMs ?? 30_000, maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      resolve({ code: error ? ((error as { code?: number }).code ?? null) : 0, stdout, stderr });
    });
  });
}

describe('volume-count against a real dockerd', () => {
  let dockerd: TestDockerd;
  let served: TestPlugin;
  let bindDir: string;
  const ids: Record<string, string> = {};

  const inspect = async (id: string): Promise<Inspect> => (JSON.parse(await dockerd.docker(['inspect', id])) as Inspect[])[0]!;
  const allIds = async () => (await dockerd.docker(['ps', '-aq', '--no-trunc'])).split('\n').filter((l) => l !== '').sort();

  beforeEach((ctx) => requireComponent(ctx, 'dockerd', haveDocker, 'run scripts/provision.sh (installs docker.io, starts dockerd, imports scope-plugins-test/busybox)'));

  beforeAll(async () => {
    if (!haveDocker) return;
    dockerd = await startTestDockerd({ images: [IMAGE] });
    bindDir = await mkdtemp(join(tmpdir(), 'vc-bind-'));
    ids['all'] = await dockerd.docker([
      'run', '-d', '--name', 'vc-all',
      '-v', 'vc-named:/data', '-v', '/anon', '-v', `${bindDir}:/bind:ro`,
      '--mount', 'type=volume,source=vc-named,destination=/data2,readonly',
      '--tmpfs', '/scratch:size=1m,mode=1777', '--mount', 'type=tmpfs,destination=/mtmp,tmpfs-size=65536',
      IMAGE,
    ]);
    ids['stopped'] = await dockerd.docker(['create', '--name', 'vc-stopped', '-v', `${bindDir}:/b2`, '--tmpfs', '/ro-tmp:ro', IMAGE]);
    ids['none'] = await dockerd.docker(['run', '-d', '--name', 'vc-none', IMAGE]);
    served = await startTestPlugin(plugin, { options: { dockerHost: dockerd.dockerHost, dockerResyncMs: 60_000 } });
  }, 120_000);

  afterAll(async () => {
    await served?.stop();
    await dockerd?.dispose();
    if (bindDir) await rm(bindDir, { recursive: true, force: true });
  }, 120_000);

  it('serves one node per container, running or not, exactly the set docker ps -a lists', async () => {
    const expected = (await allIds()).map(containerNodeId);
    expect(expected).toHaveLength(3);
    const report = await served.waitForReport((r) => Object.keys(containerNodes(r)).length === expected.length, 5000);
    expect(Object.keys(containerNodes(report)).sort()).toEqual(expected);
  });

  it('serves counts and a mounts table equal to docker inspect (volumes, binds, --mount and --tmpfs tmpfs)', async () => {
    const report = await served.report();
    const info = await inspect(ids['all']!);
    const mount = (destination: string) => info.Mounts.find((m) => m.Destination === destination)!;
    const tmpfsCount = Object.keys(info.HostConfig.Tmpfs ?? {}).length;
    const node = containerNodes(report)[containerNodeId(ids['all']!)];
    expect(countsOf(node)).toEqual({
      total: String(info.Mounts.length + tmpfsCount),
      volume: String(info.Mounts.filter((m) => m.Type === 'volume').length),
      bind: String(info.Mounts.filter((m) => m.Type === 'bind').length),
      tmpfs: String(info.Mounts.filter((m) => m.Type === 'tmpfs').length + tmpfsCount),
    });
    expect(countsOf(node)).toEqual({ total: '6', volume: '3', bind: '1', tmpfs: '2' });
    expect(tableOf(node)).toEqual({
      '000': { type: 'volume', source: `${mount('/anon').Name!.slice(0, 12)} (anonymous)`, destination: '/anon', read_only: 'no', details: `${mount('/anon').Driver!}, full name ${mount('/anon').Name!}` },
      '001': { type: 'bind', source: bindDir, destination: '/bind', read_only: 'yes', details: mount('/bind').Propagation },
      '002': { type: 'volume', source: 'vc-named', destination: '/data', read_only: 'no', details: 'local' },
      '003': { type: 'volume', source: 'vc-named', destination: '/data2', read_only: 'yes', details: 'local' },
      '004': { type: 'tmpfs', source: 'tmpfs', destination: '/mtmp', read_only: 'no', details: 'size=65536' },
      '005': { type: 'tmpfs', source: 'tmpfs', destination: '/scratch', read_only: 'no', details: info.HostConfig.Tmpfs!['/scratch']! },
    });
    expect(mount('/anon').Name).toMatch(/^[0-9a-f]{64}$/);
    // As a user reads it: the Destination names each row, and no row has an empty cell.
    const mounts = renderNode(report, 'Container', containerNodeId(ids['all']!)).tables.find((t) => t.label === 'Mounts')!;
    expect(mounts.columns.map((c) => c.label)).toEqual(['Destination', 'Type', 'Volume / source', 'Read-only', 'Driver / propagation / options']);
    expect(mounts.rows.map((r) => r.cells['Destination'])).toEqual(['/anon', '/bind', '/data', '/data2', '/mtmp', '/scratch']);
    expect(mounts.rows.filter((r) => Object.keys(r.cells).length !== 5)).toEqual([]);
    expect(mount('/bind').Propagation).toBe('rprivate');

    const stopped = await inspect(ids['stopped']!);
    const stoppedNode = containerNodes(report)[containerNodeId(ids['stopped']!)];
    expect(countsOf(stoppedNode)).toEqual({ total: '2', volume: '0', bind: '1', tmpfs: '1' });
    expect(tableOf(stoppedNode)).toEqual({
      '000': { type: 'bind', source: bindDir, destination: '/b2', read_only: 'no', details: stopped.Mounts[0]!.Propagation },
      '001': { type: 'tmpfs', source: 'tmpfs', destination: '/ro-tmp', read_only: 'yes', details: 'ro' },
    });
    expect(countsOf(containerNodes(report)[containerNodeId(ids['none']!)])).toEqual({ total: '0', volume: '0', bind: '0', tmpfs: '0' });
    expect(tableOf(containerNodes(report)[containerNodeId(ids['none']!)])).toEqual({});
  });

  it('declares "# Volumes" as a number so Scope sorts it numerically, and the doctor finds no violation', async () => {
    const report = await served.report();
    expect(report.Container?.metadata_templates?.['volume_count']).toEqual({ id: 'volume_count', label: '# Volumes', dataType: 'number', priority: 0.1, from: 'latest' });
    // Every count is a number; the pod's name and namespace (CRI containers only) are text.
    expect(Object.fromEntries(Object.values(report.Container?.metadata_templates ?? {}).map((t) => [t.id, t.dataType]))).toEqual({
      volume_count: 'number',
      volume_count_volumes: 'number',
      volume_count_binds: 'number',
      volume_count_tmpfs: 'number',
      volume_count_pod_name: undefined,
      volume_count_pod_namespace: undefined,
      volume_count_k8s_configmap: 'number',
      volume_count_k8s_secret: 'number',
      volume_count_k8s_empty_dir: 'number',
      volume_count_k8s_projected: 'number',
      volume_count_k8s_csi: 'number',
      volume_count_k8s_host_path: 'number',
      volume_count_k8s_service_account_token: 'number',
      volume_count_k8s_other: 'number',
    });
    const diagnosis = await served.doctor();
    expect(diagnosis.status).toBe('ok');
    expect(diagnosis.violations.filter((v) => v.kind !== 'note')).toEqual([]);
    expect(served.running.health().guardViolations).toBe(0);
  });

  it('follows a created and a removed container within 2 s', async () => {
    const id = await dockerd.docker(['create', '--name', 'vc-new', '-v', '/fresh', IMAGE]);
    const report = await served.waitForReport((r) => containerNodeId(id) in containerNodes(r), 2000);
    expect(countsOf(containerNodes(report)[containerNodeId(id)])).toEqual({ total: '1', volume: '1', bind: '0', tmpfs: '0' });
    await dockerd.docker(['rm', '-v', id]);
    await served.waitForReport((r) => !(containerNodeId(id) in containerNodes(r)), 2000);
    expect(Object.keys(containerNodes(await served.report())).sort()).toEqual((await allIds()).map(containerNodeId));
  });

  it('between Docker changes, serves the same nodes stamped with each collection\'s time', async () => {
    const latestOf = (report: Report) =>
      Object.fromEntries(Object.entries(containerNodes(report)).flatMap(([id, node]) => Object.entries(node.latest ?? {}).map(([key, entry]) => [`${id} ${key}`, entry] as const)));
    const first = latestOf(await served.report());
    const stamp = Object.values(first)[0]!.timestamp;
    expect(Object.keys(first).length).toBeGreaterThan(30);
    const later = latestOf(await served.waitForReport((r) => Object.values(latestOf(r))[0]?.timestamp !== stamp, 5000));
    expect(Object.keys(later)).toEqual(Object.keys(first));
    const newStamp = Object.values(later)[0]!.timestamp;
    expect(Date.parse(newStamp)).toBeGreaterThan(Date.parse(stamp));
    for (const [key, entry] of Object.entries(later)) expect(entry, key).toEqual({ timestamp: newStamp, value: first[key]!.value });
  });

  it('keeps serving every node, collection after collection, behind core\'s metrics wrapper (--metrics-listen)', async () => {
    const hub = createMetricsHub(createLogger({ level: 'silent' }));
    const withMetrics = await startTestPlugin(hub.instrument(plugin), { intervalMs: 200, options: { dockerHost: dockerd.dockerHost, dockerResyncMs: 60_000 } });
    try {
      const url = await hub.listen(parseListenAddress('127.0.0.1:0'));
      const expected = (await allIds()).map(containerNodeId);
      await withMetrics.waitForReport((r) => Object.keys(containerNodes(r)).length === expected.length, 5000);
      const seen = withMetrics.running.health().collections;
      while (withMetrics.running.health().collections < seen + 5) await new Promise((resolve) => setTimeout(resolve, 100));
      expect(Object.keys(containerNodes(await withMetrics.report())).sort()).toEqual(expected);
      // Collections that changed nothing wrote no series: the page still has every container's, from the last build.
      const page = await (await fetch(url)).text();
      expect(page).toMatch(new RegExp(`scope_volume_count_mounts\\{container_id="${ids['all']}",container_name="vc-all",type="volume"\\} 3\\b`));
      expect(page).toMatch(/scope_volume_count_containers 3\b/);
    } finally {
      await withMetrics.stop();
      await hub.close();
    }
  });

  it('honours DOCKER_HOST in --once mode', async () => {
    const result = await run(process.execPath, [CLI, '--once', '--log-level', 'warn'], { env: { ...process.env, DOCKER_HOST: dockerd.dockerHost } });
    expect(result.code).toBe(0);
    const report = JSON.parse(result.stdout) as Report;
    expect(Object.keys(containerNodes(report)).sort()).toEqual((await allIds()).map(containerNodeId));
    expect(countsOf(containerNodes(report)[containerNodeId(ids['all']!)]).total).toBe('6');
  });

  it('keeps serving with one clear line when the Docker socket is not accessible (permission denied)', async () => {
    // Run the real CLI as nobody: root is never refused by the socket's 0660 mode.
    const root = await mkdtemp(join(tmpdir(), 'vcp-'));
    await mkdir(join(root, 'volume-count'), { mode: 0o700 });
    await chown(root, 65534, 65534);
    await chown(join(root, 'volume-count'), 65534, 65534);
    const child = spawn(process.execPath, [CLI, '--root', root, '--docker-host', dockerd.dockerHost, '--log-level', 'info'], { uid: 65534, gid: 65534, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    try {
      const socket = join(root, 'volume-count', 'volume-count.sock');
      const deadline = Date.now() + 10_000;
      let body = '';
      while (Date.now() < deadline) {
        const poll = await pollReport(socket, undefined, 1000);
        if (poll.ok && poll.statusCode === 200) {
          body = poll.body;
          if (stderr.includes('permission denied')) break;
        }
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
      const report = JSON.parse(body) as Report;
      expect(report.Plugins[0]?.id).toBe('volume-count');
      expect(containerNodes(report)).toEqual({});
      await new Promise((resolve) => setTimeout(resolve, 1500));
      const lines = stderr.split('\n').filter((l) => l.includes('Docker unreachable'));
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(/permission denied on unix:\/\/.*docker\.sock: run as root or as a member of the socket's group/);
    } finally {
      child.kill('SIGTERM');
      await new Promise((resolve) => child.once('exit', resolve));
      await rm(root, { recursive: true, force: true });
    }
  });

  it('serves no containers while dockerd is stopped, logs one line per state change, and recovers', async () => {
    const before = served.logs.length;
    const expected = (await allIds()).map(containerNodeId);
    await dockerd.stop();
    await served.waitForReport((r) => Object.keys(containerNodes(r)).length === 0, 5000);
    // Reconnects keep failing meanwhile; the report stays empty and valid.
    await new Promise((resolve) => setTimeout(resolve, 2500));
    expect(containerNodes(await served.report())).toEqual({});
    expect((await served.doctor()).status).toBe('ok');

    await dockerd.start();
    const report = await served.waitForReport((r) => Object.keys(containerNodes(r)).length === expected.length, 15_000);
    expect(Object.keys(containerNodes(report)).sort()).toEqual(expected);
    // After a daemon restart the mounts are the same, now on stopped containers.
    expect(countsOf(containerNodes(report)[containerNodeId(ids['all']!)])).toEqual({ total: '6', volume: '3', bind: '1', tmpfs: '2' });

    const logs = served.logs.slice(before);
    expect(logs.filter((l) => l.includes('Docker unreachable'))).toHaveLength(1);
    expect(logs.filter((l) => l.includes('Docker reachable'))).toHaveLength(1);
    expect(logs.filter((l) => l.includes('collection failed'))).toEqual([]);
  });
});

describe('volume-count without Docker', () => {
  it('keeps serving a valid, empty report when the socket path does not exist, and says how to fix it', async () => {
    const served = await startTestPlugin(plugin, { options: { dockerHost: 'unix:///tmp/scope-vc-missing/docker.sock' } });
    try {
      const report = await served.waitForReport(() => served.logs.some((l) => l.includes('Docker unreachable')), 5000);
      expect(containerNodes(report)).toEqual({});
      const diagnosis = await served.doctor();
      expect(diagnosis.status).toBe('ok');
      expect(diagnosis.violations.filter((v) => v.kind !== 'note')).toEqual([]);
      await new Promise((resolve) => setTimeout(resolve, 1500));
      const lines = served.logs.filter((l) => l.includes('Docker unreachable'));
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(/unix:\/\/\/tmp\/scope-vc-missing\/docker\.sock does not exist: start dockerd, or mount/);
    } finally {
      await served.stop();
    }
  });

  it('refuses a bad --docker-host with a clear error', async () => {
    const result = await run(process.execPath, [CLI, '--once', '--docker-host', 'ftp://nowhere']);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain('"ftp://nowhere"');
  });
});
