import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createLogger } from '@scope-plugins/core';
import { requireComponent } from '@scope-plugins/core/testing';
import { isDockerdInstalled, startTestDockerd, type TestDockerd } from '@scope-plugins/docker/testing';
import { createContainerInventory } from '../src/index.js';
import { missingContainerdComponents, startTestContainerd, type TestContainerd } from '../src/testing/index.js';

const IMAGE = 'scope-plugins-test/busybox:latest';
const missing = missingContainerdComponents();
const haveBoth = missing.length === 0 && isDockerdInstalled() && process.getuid?.() === 0;
const howToGet = `missing ${[...missing, ...(isDockerdInstalled() ? [] : ['dockerd'])].join(', ') || 'root'}: run as root after scripts/provision.sh`;

/**
 * `auto` on a Docker host whose Docker is not up yet, but whose own containerd (CRI plugin disabled, as Docker
 * ships it) has its socket at containerd's default path: the only socket auto finds is containerd's, and it must
 * not get stuck there. Both daemons are real and the test's own; "Docker is not up yet" is the `exists` answer
 * at selection time.
 */
describe('auto: a containerd socket that does not speak CRI', () => {
  let plainContainerd: TestContainerd;
  let dockerd: TestDockerd;
  let containerId: string;

  beforeEach((ctx) => requireComponent(ctx, 'containerd and dockerd', haveBoth, howToGet));

  beforeAll(async () => {
    if (!haveBoth) return;
    plainContainerd = await startTestContainerd({ cri: false });
    dockerd = await startTestDockerd({ images: [IMAGE] });
    containerId = await dockerd.docker(['create', IMAGE]);
  });

  afterAll(async () => {
    await dockerd?.dispose();
    await plainContainerd?.dispose();
  });

  it('follows Docker instead, saying so in one line', async () => {
    const logs: string[] = [];
    const inventory = createContainerInventory({
      runtime: 'auto',
      dockerHost: dockerd.dockerHost,
      exists: (path) => path === plainContainerd.socketPath,
      criEndpoints: { containerd: plainContainerd.endpoint, 'cri-o': 'unix:///tmp/scope-cri-none/crio.sock' },
      log: createLogger({ level: 'info', write: (line) => logs.push(line) }),
    });
    try {
      expect(inventory.selection).toMatchObject({ kind: 'cri', runtime: 'containerd', detected: true });
      await inventory.ready();
      expect([...inventory.containers().keys()]).toEqual([containerId]);
      expect(inventory.status().state).toBe('up');
      const lines = logs.filter((line) => /container runtime|Docker reachable/.test(line));
      expect(lines).toEqual([
        expect.stringContaining('container runtime: containerd through CRI (no Docker socket at'),
        expect.stringContaining(`does not serve the CRI API runtime.v1`),
        expect.stringContaining(`container runtime: docker after all (${plainContainerd.endpoint} does not serve CRI: Docker's own containerd); following Docker`),
        expect.stringContaining('Docker reachable; containers listed, following events'),
      ]);
    } finally {
      await inventory.close();
    }
  });

  it('keeps CRI when the detected socket does speak it', async () => {
    const criContainerd = await startTestContainerd();
    const inventory = createContainerInventory({
      runtime: 'auto',
      dockerHost: dockerd.dockerHost,
      exists: (path) => path === criContainerd.socketPath,
      criEndpoints: { containerd: criContainerd.endpoint, 'cri-o': 'unix:///tmp/scope-cri-none/crio.sock' },
      log: createLogger({ level: 'silent' }),
    });
    try {
      await inventory.ready();
      expect(inventory.status().state).toBe('up');
      // containerd's (empty) container list, not Docker's one container.
      expect([...inventory.containers().keys()]).toEqual([]);
    } finally {
      await inventory.close();
      await criContainerd.dispose();
    }
  });
});
