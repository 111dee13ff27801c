import { readlink } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { containerNodeId, hostNodeId, type Report } from '@scope-plugins/core';
import { renderNode, requireComponent, startTestPlugin, type TestPlugin } from '@scope-plugins/core/testing';
import { pingDocker, runDocker } from '@scope-plugins/docker/testing';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { CONTAINER_NS_PREFIX, SHARED_KEY, TABLE_PREFIX, plugin } from '../src/index.js';

const HOST = 'test-host';
const SOCKET = '/var/run/docker.sock';
const IMAGE = 'scope-plugins-test/busybox:latest';

const dockerUp = await pingDocker(SOCKET, 2000);
const imageThere = dockerUp && (await runDocker(['image', 'inspect', '--format', '{{.Id}}', IMAGE]).then(() => true, () => false));

async function inode(pid: number, type: string): Promise<string> {
  return /\[(\d+)\]/.exec(await readlink(`/proc/${pid}/ns/${type}`))?.[1] ?? 'unreadable';
}

describe('container namespaces against the real Docker engine', () => {
  const suffix = `${process.pid}-${Date.now()}`;
  const specs = {
    hostNet: ['--network', 'host'],
    noNet: ['--network', 'none'],
    hostPidIpcUts: ['--network', 'none', '--pid', 'host', '--ipc', 'host', '--uts', 'host'],
  } as const;
  const containers: Record<keyof typeof specs, { id: string; pid: number }> = {} as never;
  let test: TestPlugin;

  beforeEach((ctx) => requireComponent(ctx, `a Docker engine on ${SOCKET} with the image ${IMAGE}`, imageThere, 'run scripts/provision.sh (starts dockerd and imports the test image)'));

  beforeAll(async () => {
    if (!imageThere) return;
    for (const [name, flags] of Object.entries(specs) as Array<[keyof typeof specs, readonly string[]]>) {
      const id = await runDocker(['run', '-d', '--name', `hn-test-${name.toLowerCase()}-${suffix}`, '--label', 'scope-plugins-test=host-namespaces', ...flags, IMAGE, 'sleep', '300']);
      const pid = Number(await runDocker(['inspect', '--format', '{{.State.Pid}}', id]));
      containers[name] = { id, pid };
    }
    test = await startTestPlugin(plugin, { hostId: HOST, intervalMs: 300, options: { dockerHost: `unix://${SOCKET}` } });
  }, 60_000);

  afterAll(async () => {
    await test?.stop();
    const ids = Object.values(containers).map((c) => c.id);
    if (ids.length > 0) await runDocker(['rm', '-f', ...ids]);
  }, 60_000);

  const containerNode = (report: Report, id: string) => report.Container?.nodes?.[containerNodeId(id)];
  const latestOf = (report: Report, id: string, key: string) => containerNode(report, id)?.latest?.[key]?.value;

  it('flags the namespaces each container shares with the host, by comparing inodes', async () => {
    const report = await test.waitForReport((r) => Object.values(containers).every((c) => latestOf(r, c.id, SHARED_KEY) !== undefined), 20_000);
    const shared = (name: keyof typeof specs) => latestOf(report, containers[name].id, SHARED_KEY)?.split(', ') ?? [];

    expect(shared('hostNet')).toContain('net');
    expect(shared('hostNet')).not.toContain('pid');
    expect(shared('noNet')).not.toContain('net');
    expect(shared('noNet')).not.toContain('pid');
    expect(shared('hostPidIpcUts')).toEqual(expect.arrayContaining(['pid', 'ipc', 'uts']));
    expect(shared('hostPidIpcUts')).not.toContain('net');
  });

  it('names every namespace of the container, marking the host ones, with the inodes the kernel reports', async () => {
    const report = await test.waitForReport((r) => Object.values(containers).every((c) => latestOf(r, c.id, `${CONTAINER_NS_PREFIX}net`) !== undefined), 20_000);
    const { hostNet, noNet } = containers;
    expect(latestOf(report, hostNet.id, `${CONTAINER_NS_PREFIX}net`)).toBe(`${await inode(hostNet.pid, 'net')} (host)`);
    expect(latestOf(report, noNet.id, `${CONTAINER_NS_PREFIX}net`)).toBe(await inode(noNet.pid, 'net'));
    expect(latestOf(report, noNet.id, `${CONTAINER_NS_PREFIX}mnt`)).toBe(await inode(noNet.pid, 'mnt'));
    expect(await inode(noNet.pid, 'net')).not.toBe(await inode(process.pid, 'net'));
    // Container nodes carry only this plugin's keys: no table key leaks onto them.
    const keys = Object.keys(containerNode(report, noNet.id)?.latest ?? {});
    expect(keys.every((key) => key.startsWith('host-namespaces_') && !key.startsWith(TABLE_PREFIX))).toBe(true);
  });

  it('what a user reads: the summary agrees with the namespaces table, row for row (time included)', async () => {
    const report = await test.waitForReport((r) => Object.values(containers).every((c) => latestOf(r, c.id, `${CONTAINER_NS_PREFIX}time`) !== undefined), 20_000);
    for (const { id } of Object.values(containers)) {
      const details = renderNode(report, 'Container', containerNodeId(id));
      const summary = details.metadata.find((row) => row.label === 'Namespaces shared with host')!.value;
      const table = details.tables.find((t) => t.label === 'Namespaces')!;
      const marked = table.rows.flatMap((row) => Object.entries(row.cells)).filter(([, value]) => value.endsWith(' (host)')).map(([type]) => type);
      expect(summary.split(', ').sort()).toEqual(marked.sort());
      // Docker never gives a container its own time namespace: both views say so.
      expect(summary.split(', ')).toContain('time');
    }
  });

  it('passes the doctor with container nodes in the report', async () => {
    await test.waitForReport((r) => latestOf(r, containers.hostNet.id, SHARED_KEY) !== undefined, 20_000);
    const diagnosis = await test.doctor();
    expect(diagnosis.status).toBe('ok');
    expect(diagnosis.violations.filter((v) => v.kind !== 'note')).toEqual([]);
  });

  it('drops a container once it is removed', async () => {
    const { id } = containers.noNet;
    await runDocker(['rm', '-f', id]);
    const report = await test.waitForReport((r) => containerNode(r, id) === undefined, 20_000);
    expect(latestOf(report, containers.hostNet.id, SHARED_KEY)).toBeDefined();
  });
});

describe('when Docker cannot be reached', () => {
  let test: TestPlugin;

  beforeAll(async () => {
    test = await startTestPlugin(plugin, { hostId: HOST, options: { dockerHost: 'unix:///nonexistent/docker.sock' } });
  });

  afterAll(async () => {
    await test?.stop();
  });

  it('still serves the host table, adds no container metadata, and logs the state once', async () => {
    for (let i = 0; i < 3; i++) await test.running.collectNow();
    const report = await test.report();
    const latest = report.Host?.nodes?.[hostNodeId(HOST)]?.latest ?? {};
    expect(Object.keys(latest).some((key) => key.startsWith(TABLE_PREFIX))).toBe(true);
    expect(report.Container?.nodes ?? {}).toEqual({});
    expect(test.logs.filter((line) => line.includes('Docker unreachable'))).toHaveLength(1);
  });
});

describe('when Docker hangs (accepts connections, never answers)', () => {
  let server: Server;
  const sockets: Socket[] = [];
  let test: TestPlugin;

  beforeAll(async () => {
    server = createServer((socket) => sockets.push(socket));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as { port: number };
    test = await startTestPlugin(plugin, { hostId: HOST, options: { dockerHost: `tcp://127.0.0.1:${port}` } });
  });

  afterAll(async () => {
    await test?.stop();
    for (const socket of sockets) socket.destroy();
    await new Promise((resolve) => server.close(resolve));
  });

  it('serves the host table from the first collection on, without container metadata', async () => {
    await test.running.collectNow();
    const report = await test.report();
    const latest = report.Host?.nodes?.[hostNodeId(HOST)]?.latest ?? {};
    expect(Object.keys(latest).some((key) => key.startsWith(TABLE_PREFIX))).toBe(true);
    expect(report.Container?.nodes ?? {}).toEqual({});
    expect(test.running.health().lastError).toBeNull();
  });
});
