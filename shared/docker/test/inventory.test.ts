import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createLogger } from '@scope-plugins/core';
import { requireComponent } from '@scope-plugins/core/testing';
import { createDockerInventory, type DockerInventory } from '../src/index.js';
import { isDockerdInstalled, startTestDockerd, type TestDockerd } from '../src/testing/index.js';

const IMAGE = 'scope-plugins-test/busybox:latest';
const haveDocker = isDockerdInstalled();

async function waitFor<T>(what: string, probe: () => T | undefined, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const value = probe();
    if (value !== undefined) return value;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`${what} did not happen within ${timeoutMs} ms`);
}

describe('createDockerInventory against a real dockerd', () => {
  let dockerd: TestDockerd;
  const lines: string[] = [];
  let inventory: DockerInventory;

  beforeEach((ctx) => requireComponent(ctx, 'dockerd', haveDocker, 'run scripts/provision.sh (installs docker.io and imports scope-plugins-test/busybox)'));

  beforeAll(async () => {
    if (!haveDocker) return;
    dockerd = await startTestDockerd({ images: [IMAGE] });
    inventory = createDockerInventory({
      dockerHost: dockerd.dockerHost,
      log: createLogger({ level: 'info', write: (line) => lines.push(line) }),
      resyncMs: 60_000,
      backoffMaxMs: 1000,
    });
  }, 120_000);

  afterAll(async () => {
    await inventory?.close();
    await dockerd?.dispose();
  }, 120_000);

  it('lists existing containers with their inspect data, then follows create, rename and remove within 2 s', async () => {
    await inventory.ready();
    expect(inventory.status().state).toBe('up');
    expect(inventory.containers().size).toBe(0);

    const id = await dockerd.docker(['run', '-d', '--name', 'inv-a', '--tmpfs', '/scratch:size=1m', IMAGE]);
    const record = await waitFor('running container listed', () => {
      const r = inventory.containers().get(id);
      return r?.running ? r : undefined;
    }, 2000);
    const pid = Number(await dockerd.docker(['inspect', '-f', '{{.State.Pid}}', id]));
    expect({ id: record.id, name: record.name, state: record.state, running: record.running, pid: record.pid, tmpfs: record.inspect.HostConfig.Tmpfs }).toEqual({
      id,
      name: 'inv-a',
      state: 'running',
      running: true,
      pid,
      tmpfs: { '/scratch': 'size=1m' },
    });

    await dockerd.docker(['rename', 'inv-a', 'inv-b']);
    await waitFor('rename followed', () => (inventory.containers().get(id)?.name === 'inv-b' ? true : undefined), 2000);

    await dockerd.docker(['stop', '-t', '0', id]);
    const stopped = await waitFor('stop followed', () => {
      const r = inventory.containers().get(id);
      return r && !r.running ? r : undefined;
    }, 2000);
    expect({ state: stopped.state, pid: stopped.pid }).toEqual({ state: 'exited', pid: 0 });

    await dockerd.docker(['rm', id]);
    await waitFor('removal followed', () => (inventory.containers().has(id) ? undefined : true), 2000);
  });

  it('stays equal to docker ps -a through frequent full resyncs while containers come and go', async () => {
    const lines: string[] = [];
    const fast = createDockerInventory({ dockerHost: dockerd.dockerHost, log: createLogger({ level: 'debug', write: (line) => lines.push(line) }), resyncMs: 100 });
    try {
      await fast.ready();
      const created = await Promise.all([0, 1, 2, 3].map((i) => dockerd.docker(['create', '--name', `inv-r${i}`, IMAGE])));
      await dockerd.docker(['rm', created[0]!, created[1]!]);
      const expected = (await dockerd.docker(['ps', '-aq', '--no-trunc'])).split('\n').filter((l) => l !== '').sort();
      await waitFor('inventory equals docker ps -a', () => (JSON.stringify([...fast.containers().keys()].sort()) === JSON.stringify(expected) ? true : undefined), 2000);
      // Sample across many resyncs: the set never flickers.
      const resyncsBefore = lines.filter((l) => l.includes('full resync done')).length;
      for (let i = 0; i < 50; i++) {
        expect([...fast.containers().keys()].sort()).toEqual(expected);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      expect(lines.filter((l) => l.includes('full resync done')).length - resyncsBefore).toBeGreaterThan(3);
      // Nothing changed across those resyncs: the same map and the same record objects are served (readers cache by identity).
      const map = fast.containers();
      const records = [...map.values()];
      // The event path updates the live map in place: keep a copy of what it held.
      const before = new Map(map);
      const resyncsMid = lines.filter((l) => l.includes('full resync done')).length;
      await waitFor('two more resyncs', () => (lines.filter((l) => l.includes('full resync done')).length >= resyncsMid + 2 ? true : undefined), 2000);
      expect(fast.containers()).toBe(map);
      expect([...fast.containers().values()].every((r, i) => r === records[i])).toBe(true);
      // A changed container gets a new record; the others keep theirs through the resyncs that follow.
      await dockerd.docker(['rename', 'inv-r2', 'inv-r2b']);
      await waitFor('renamed record', () => (fast.containers().get(created[2]!)?.name === 'inv-r2b' ? true : undefined), 2000);
      const resyncsAfter = lines.filter((l) => l.includes('full resync done')).length;
      await waitFor('two more resyncs', () => (lines.filter((l) => l.includes('full resync done')).length >= resyncsAfter + 2 ? true : undefined), 2000);
      expect(fast.containers().get(created[2]!)).not.toBe(before.get(created[2]!));
      expect(fast.containers().get(created[2]!)?.name).toBe('inv-r2b');
      expect(fast.containers().get(created[3]!)).toBe(before.get(created[3]!));
      await dockerd.docker(['rm', created[2]!, created[3]!]);
    } finally {
      await fast.close();
    }
  });

  it('empties itself while dockerd is down, logs each state change once, and recovers', async () => {
    const created = await dockerd.docker(['create', '--name', 'inv-c', IMAGE]);
    await waitFor('created container listed', () => (inventory.containers().has(created) ? true : undefined), 2000);
    const before = lines.length;

    await dockerd.stop();
    await waitFor('down detected', () => (inventory.status().state === 'down' ? true : undefined), 5000);
    expect(inventory.containers().size).toBe(0);
    // Several reconnect attempts fail meanwhile; still one line for the whole outage.
    await new Promise((resolve) => setTimeout(resolve, 2500));
    expect(inventory.containers().size).toBe(0);
    const downLines = lines.slice(before).filter((l) => l.includes('Docker unreachable'));
    expect(downLines).toHaveLength(1);
    expect(downLines[0]).toMatch(/warn .*(lost|does not exist|refused)/);

    await dockerd.start();
    await waitFor('recovered', () => (inventory.status().state === 'up' && inventory.containers().has(created) ? true : undefined), 15_000);
    const upLines = lines.slice(before).filter((l) => l.includes('Docker reachable'));
    expect(upLines).toHaveLength(1);
    expect(upLines[0]).toContain(`docker_host=${dockerd.dockerHost}`);
  });
});

describe('createDockerInventory without Docker', () => {
  it('reports a missing socket once, serves nothing and stops cleanly', async () => {
    const lines: string[] = [];
    const inventory = createDockerInventory({
      dockerHost: 'unix:///tmp/scope-no-such-docker.sock',
      log: createLogger({ level: 'info', write: (line) => lines.push(line) }),
      backoffInitialMs: 50,
      backoffMaxMs: 100,
    });
    await inventory.ready();
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect({ state: inventory.status().state, size: inventory.containers().size }).toEqual({ state: 'down', size: 0 });
    expect(inventory.status().reason).toMatch(/does not exist/);
    expect(lines).toHaveLength(1);
    await inventory.close();
  });

  it('refuses bad options with a TypeError', () => {
    const log = createLogger({ level: 'silent' });
    expect(() => createDockerInventory({ dockerHost: 'ftp://x', log })).toThrow(TypeError);
    expect(() => createDockerInventory({ log, resyncMs: 0 })).toThrow(/resyncMs must be a positive number, got 0/);
  });

  it('stops when its signal is aborted', async () => {
    const controller = new AbortController();
    const inventory = createDockerInventory({ dockerHost: '/tmp/scope-no-such-docker.sock', log: createLogger({ level: 'silent' }), signal: controller.signal });
    controller.abort();
    await inventory.close();
    expect(inventory.containers().size).toBe(0);
  });
});
