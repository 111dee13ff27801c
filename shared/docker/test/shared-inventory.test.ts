import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { hostNodeId, sharedResourceHolds, type Report } from '@scope-plugins/core';
import { requireComponent, startTestPlugin, type TestPlugin } from '@scope-plugins/core/testing';
import { dockerInventoryKey } from '../src/index.js';
import { isDockerdInstalled, startTestDockerd, type TestDockerd } from '../src/testing/index.js';
import { createContainerStatesPlugin } from './example-plugin.js';

const IMAGE = 'scope-plugins-test/busybox:latest';
const haveDocker = isDockerdInstalled();

describe('one shared inventory per Docker host, through the plugin context', () => {
  let dockerd: TestDockerd;
  const started: TestPlugin[] = [];

  beforeEach((ctx) => requireComponent(ctx, 'dockerd', haveDocker, 'run scripts/provision.sh (installs docker.io and imports scope-plugins-test/busybox)'));

  beforeAll(async () => {
    if (!haveDocker) return;
    dockerd = await startTestDockerd({ images: [IMAGE] });
    await dockerd.docker(['run', '-d', '--name', 'si-running', IMAGE, 'sleep', '300']);
    await dockerd.docker(['create', '--name', 'si-created', IMAGE]);
  }, 120_000);

  afterAll(async () => {
    await Promise.all(started.splice(0).map((t) => t.stop()));
    await dockerd?.dispose();
  }, 120_000);

  const latest = (report: Report, key: string) => report.Host?.nodes?.[hostNodeId('h')]?.latest?.[key]?.value;

  it('a fifth plugin (option schema + shared inventory, no change to core): two instances share one inventory, released on close', async () => {
    const key = dockerInventoryKey(dockerd.dockerHost);
    const options = { dockerHost: dockerd.dockerHost, dockerResyncMs: 1000, states: 'running,created' };
    const a = await startTestPlugin(createContainerStatesPlugin('states-a'), { hostId: 'h', options });
    started.push(a);
    const b = await startTestPlugin(createContainerStatesPlugin('states-b'), { hostId: 'h', options });
    started.push(b);
    expect(sharedResourceHolds().get(key)).toBe(2);

    const both = async (t: TestPlugin, prefix: string) => t.waitForReport((r) => latest(r, `${prefix}running`) === '1' && latest(r, `${prefix}created`) === '1', 10_000);
    await both(a, 'states_a_');
    await both(b, 'states_b_');
    // One event stream, one resync loop: the "reachable" line and the resyncs come from one inventory only.
    const all = () => [...a.logs, ...b.logs];
    expect(all().filter((l) => l.includes('Docker reachable'))).toHaveLength(1);
    await b.waitForReport(() => all().filter((l) => l.includes('docker full resync done')).length >= 2, 10_000);
    expect(new Set(all().filter((l) => l.includes('docker full resync done')).map((l) => /shared=(\S+)/.exec(l)?.[1]))).toEqual(new Set([key]));

    // Stopping one holder leaves the inventory to the other, still live.
    await started.shift()!.stop();
    expect(sharedResourceHolds().get(key)).toBe(1);
    await dockerd.docker(['run', '-d', '--name', 'si-second', IMAGE, 'sleep', '300']);
    await b.waitForReport((r) => latest(r, 'states_b_running') === '2', 10_000);

    // The last holder's close stops it: the key is gone, and no more resyncs are logged.
    await started.shift()!.stop();
    expect(sharedResourceHolds().has(key)).toBe(false);
    const resyncs = b.logs.filter((l) => l.includes('docker full resync done')).length + a.logs.filter((l) => l.includes('docker full resync done')).length;
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect(b.logs.filter((l) => l.includes('docker full resync done')).length + a.logs.filter((l) => l.includes('docker full resync done')).length).toBe(resyncs);
  });

  it('refuses a bad option value with the flag, the env var and the value', async () => {
    await expect(startTestPlugin(createContainerStatesPlugin(), { hostId: 'h', options: { states: 'running,sleeping' } })).rejects.toThrow(
      new TypeError('container-states: --states (env SCOPE_CONTAINER_STATES_STATES) must be a comma-separated list of created, running, paused, exited, got "running,sleeping" (unknown "sleeping")'),
    );
  });
});
