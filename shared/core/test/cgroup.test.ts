import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { parseCgroupContainerId, readContainerIdOfPid } from '../src/index.js';
import { requireComponent } from '../src/testing/index.js';

const run = promisify(execFile);
const IMAGE = 'scope-plugins-test/busybox:latest';
const ID = 'a'.repeat(40) + '0123456789abcdef01234567';

describe('parseCgroupContainerId', () => {
  it.each([
    ['Docker, cgroup v1', `4:memory:/docker/${ID}\n0::/docker/${ID}\n`],
    ['Docker, systemd driver, cgroup v2', `0::/system.slice/docker-${ID}.scope\n`],
    ['containerd CRI under kubepods', `0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod1.slice/cri-containerd-${ID}.scope\n`],
    ['CRI-O', `0::/kubepods/besteffort/pod1/crio-${ID}\n`],
    ['cgroupfs kubepods', `11:pids:/kubepods/burstable/pod0d2f/${ID}\n`],
  ])('%s', (_name, text) => expect(parseCgroupContainerId(text)).toBe(ID));

  it('a process outside containers (or in a non-container scope) has none', () => {
    expect(parseCgroupContainerId('0::/\n')).toBeUndefined();
    expect(parseCgroupContainerId('0::/user.slice/user-0.slice/session-1.scope\n')).toBeUndefined();
    expect(parseCgroupContainerId(`0::/docker/${ID.slice(1)}\n`)).toBeUndefined();
  });
});

const dockerThere = await run('docker', ['image', 'inspect', IMAGE], { timeout: 10_000 }).then(() => true, () => false);

describe('readContainerIdOfPid on a real container', () => {
  let id = '';
  beforeEach((ctx) => requireComponent(ctx, `docker with the image ${IMAGE}`, dockerThere, 'run scripts/provision.sh'));

  beforeAll(async () => {
    if (!dockerThere) return;
    id = (await run('docker', ['run', '-d', '--rm', '--network', 'none', '--label', 'scope-plugins-test=core-cgroup', IMAGE, 'sleep', '120'], { timeout: 30_000 })).stdout.trim();
  }, 40_000);
  afterAll(async () => {
    if (id) await run('docker', ['rm', '-f', id], { timeout: 30_000 });
  }, 40_000);

  it('maps the container process to its full id, and this test process to none', async () => {
    const pid = Number((await run('docker', ['inspect', '--format', '{{.State.Pid}}', id], { timeout: 10_000 })).stdout.trim());
    expect(await readContainerIdOfPid('/proc', pid)).toBe(id);
    // This process may itself run in a container (CI in Docker): it must map to that one, never to the test's.
    expect(await readContainerIdOfPid('/proc', process.pid)).toBe(parseCgroupContainerId(await readFile('/proc/self/cgroup', 'utf8')));
    expect(await readContainerIdOfPid('/proc', process.pid)).not.toBe(id);
    expect(await readContainerIdOfPid('/proc', 999_999_999)).toBeUndefined();
  });
});
