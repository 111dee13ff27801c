import { chown, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execaSync } from 'execa';
import { requireComponent } from '@scope-plugins/core/testing';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  NamespaceSourceError,
  createNamespaceSource,
  readHostNamespaces,
  readNamespacesFromProc,
  readNamespacesWithLsns,
  readProcessNamespaces,
  type NamespaceScan,
} from '../src/collect.js';
import { startUnshare, type Unshared } from './helpers/unshare.js';

const hasLsns = (() => {
  try {
    return execaSync('lsns', ['--version'], { timeout: 5000 }).exitCode === 0;
  } catch {
    return false;
  }
})();
const hasUnshare = (() => {
  try {
    return execaSync('unshare', ['--version'], { timeout: 5000 }).exitCode === 0;
  } catch {
    return false;
  }
})();
const isRoot = process.getuid?.() === 0;

describe('readNamespacesFromProc on a controlled proc tree', () => {
  let root: string;
  let passwd: string;

  /** Writes a fake `<root>/<pid>` with ns links (readlink returns the target text, as for the real ones). */
  async function addProcess(pid: number, ns: Record<string, string>, files: { cmdline?: string; comm?: string; uid?: number } = {}) {
    const dir = join(root, String(pid));
    await mkdir(join(dir, 'ns'), { recursive: true });
    for (const [type, inode] of Object.entries(ns)) await symlink(`${type}:[${inode}]`, join(dir, 'ns', type));
    await writeFile(join(dir, 'cmdline'), files.cmdline ?? '');
    await writeFile(join(dir, 'comm'), `${files.comm ?? 'proc'}\n`);
    // Only root can give the fake entries other owners; the tests that check owners require root.
    if (files.uid !== undefined && isRoot) await chown(dir, files.uid, files.uid);
  }

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'hn-proc-'));
    passwd = join(root, 'passwd');
    await writeFile(passwd, 'root:x:0:0:root:/root:/bin/bash\nalice:x:1000:1000::/home/alice:/bin/sh\n');
    const host = { mnt: '100', net: '101', pid: '102', uts: '103', ipc: '104', user: '105', cgroup: '106', time: '107' };
    await addProcess(7, host, { cmdline: 'init\0--flag\0' });
    await addProcess(2, host, { comm: 'kthreadd' });
    await addProcess(40, { ...host, net: '201', uts: '203' }, { cmdline: 'app\0serve\0', uid: 1000 });
    await addProcess(41, { ...host, net: '201', uts: '203' }, { cmdline: 'app\0worker\0', uid: 1000 });
    await addProcess(50, { ...host, ipc: '304' }, { cmdline: 'odd', uid: 4242 });
    // A process that exited between readdir and readlink: its directory has no ns links left.
    await mkdir(join(root, '60'));
    // A zombie: only pid and user can still be read.
    await addProcess(70, { pid: '102', user: '105' }, { comm: 'defunct' });
    // Not processes.
    await mkdir(join(root, 'self'));
    await writeFile(join(root, 'uptime'), '1 1\n');
  });

  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('gives one record per namespace with process count, lowest pid, owner and command', async (ctx) => {
    requireComponent(ctx, 'root (to give the fake /proc entries their owners)', isRoot, 'run the tests as root');
    const scan = await readNamespacesFromProc(root, { passwdPath: passwd });
    expect(scan).toEqual({
      source: 'proc',
      processes: 6,
      skipped: 1,
      namespaces: [
        { inode: '100', type: 'mnt', nprocs: 5, pid: 2, user: 'root', command: 'kthreadd' },
        { inode: '101', type: 'net', nprocs: 3, pid: 2, user: 'root', command: 'kthreadd' },
        { inode: '201', type: 'net', nprocs: 2, pid: 40, user: 'alice', command: 'app serve' },
        { inode: '102', type: 'pid', nprocs: 6, pid: 2, user: 'root', command: 'kthreadd' },
        { inode: '103', type: 'uts', nprocs: 3, pid: 2, user: 'root', command: 'kthreadd' },
        { inode: '203', type: 'uts', nprocs: 2, pid: 40, user: 'alice', command: 'app serve' },
        { inode: '104', type: 'ipc', nprocs: 4, pid: 2, user: 'root', command: 'kthreadd' },
        { inode: '304', type: 'ipc', nprocs: 1, pid: 50, user: '4242', command: 'odd' },
        { inode: '105', type: 'user', nprocs: 6, pid: 2, user: 'root', command: 'kthreadd' },
        { inode: '106', type: 'cgroup', nprocs: 5, pid: 2, user: 'root', command: 'kthreadd' },
        { inode: '107', type: 'time', nprocs: 5, pid: 2, user: 'root', command: 'kthreadd' },
      ],
    } satisfies NamespaceScan);
  });

  it('reads only the selected types', async () => {
    const scan = await readNamespacesFromProc(root, { passwdPath: passwd, types: ['net'] });
    expect(scan.namespaces.map((n) => `${n.type}:${n.inode}`)).toEqual(['net:101', 'net:201']);
    // The zombie has no net link: it counts as skipped for this type selection.
    expect(scan.skipped).toBe(2);
  });

  it('shows numeric uids when the passwd file is missing', async (ctx) => {
    requireComponent(ctx, 'root (to give the fake /proc entries their owners)', isRoot, 'run the tests as root');
    const scan = await readNamespacesFromProc(root, { passwdPath: join(root, 'no-such-passwd'), types: ['ipc'] });
    expect(scan.namespaces.map((n) => n.user)).toEqual(['0', '4242']);
  });

  it('fails clearly when the proc root cannot be listed', async () => {
    await expect(readNamespacesFromProc(join(root, 'missing'))).rejects.toMatchObject({ name: 'NamespaceSourceError', code: 'PROC_UNREADABLE' });
  });

  it('stops when the signal is aborted', async () => {
    await expect(readNamespacesFromProc(root, { passwdPath: passwd, signal: AbortSignal.abort(new Error('stop')) })).rejects.toThrow('stop');
  });

  it('reads one process and the host reference (pid 1, else pid 2)', async () => {
    expect(await readProcessNamespaces(root, 41, ['net', 'mnt'])).toEqual({ net: '201', mnt: '100' });
    expect(await readProcessNamespaces(root, 60)).toBeUndefined();
    expect(await readProcessNamespaces(root, 99999)).toBeUndefined();
    // No pid 1 in this tree: the reference falls back to pid 2.
    expect(await readHostNamespaces(root)).toEqual({ pid: 2, namespaces: { mnt: '100', net: '101', pid: '102', uts: '103', ipc: '104', user: '105', cgroup: '106', time: '107' } });
  });

  it('refuses an unknown source name', () => {
    expect(() => createNamespaceSource('ps' as never, { procRoot: root })).toThrow(TypeError);
  });
});

describe('lsns source', () => {
  it('reports a missing lsns binary as LSNS_MISSING', async () => {
    await expect(readNamespacesWithLsns({ lsnsPath: '/nonexistent/lsns' })).rejects.toMatchObject({ code: 'LSNS_MISSING' });
  });

  it('reports a failing lsns as LSNS_FAILED, and non-JSON output as LSNS_OUTPUT', async () => {
    await expect(readNamespacesWithLsns({ lsnsPath: 'false' })).rejects.toMatchObject({ code: 'LSNS_FAILED' });
    await expect(readNamespacesWithLsns({ lsnsPath: 'echo' })).rejects.toBeInstanceOf(NamespaceSourceError);
    await expect(readNamespacesWithLsns({ lsnsPath: 'echo' })).rejects.toMatchObject({ code: 'LSNS_OUTPUT' });
  });
});

describe('on the real host', () => {
  let unshared: Unshared;

  beforeEach((ctx) => requireComponent(ctx, 'lsns and unshare (util-linux) as root', hasLsns && hasUnshare && isRoot, 'run as root with util-linux installed'));

  beforeAll(async () => {
    if (!(hasLsns && hasUnshare && isRoot)) return;
    unshared = await startUnshare(60);
  });

  afterAll(async () => {
    await unshared?.kill();
  });

  const inodeSet = (scan: NamespaceScan) => [...new Set(scan.namespaces.map((n) => `${n.type}:${n.inode}`))].sort();

  it('the /proc walk finds exactly the namespace inodes lsns reports', { timeout: 40_000 }, async () => {
    // Other processes come and go: accept a comparison only when lsns saw the same set before and after the walk.
    // Other test suites may be starting containers at the same time: up to 20 tries within 20 s.
    const attempts: string[] = [];
    const deadline = Date.now() + 20_000;
    for (let attempt = 0; attempt < 20 && Date.now() < deadline; attempt++) {
      if (attempt > 0) await new Promise((resolve) => setTimeout(resolve, 200));
      const before = inodeSet(await readNamespacesWithLsns());
      const walk = inodeSet(await readNamespacesFromProc('/proc'));
      const after = inodeSet(await readNamespacesWithLsns());
      if (JSON.stringify(before) !== JSON.stringify(after)) {
        attempts.push(`unstable: ${before.length} → ${after.length}`);
        continue;
      }
      expect(walk).toEqual(before);
      expect(walk).toContain(`net:${unshared.inodes.net}`);
      return;
    }
    throw new Error(`namespaces never held still long enough to compare: ${attempts.join('; ')}`);
  });

  it('matches lsns row for row on the namespaces the test created (type, count, lowest pid, user, command)', async () => {
    const ours = new Set(Object.values(unshared.inodes));
    const pick = (scan: NamespaceScan) => scan.namespaces.filter((n) => ours.has(n.inode));
    const [walk, lsns] = [pick(await readNamespacesFromProc('/proc')), pick(await readNamespacesWithLsns())];
    expect(walk).toEqual(lsns);
    expect(walk).toEqual(
      expect.arrayContaining([
        { inode: unshared.inodes.pid, type: 'pid', nprocs: 1, pid: unshared.childPid, user: 'root', command: 'sleep 60' },
        { inode: unshared.inodes.net, type: 'net', nprocs: 2, pid: unshared.parentPid, user: 'root', command: 'unshare --uts --ipc --net --pid --fork --mount-proc --kill-child sleep 60' },
      ]),
    );
    expect(walk).toHaveLength(5);
  });

  it('reads the host namespaces as pid 1 (or kthreadd) sees them', async () => {
    const host = await readHostNamespaces('/proc');
    expect(host).toBeDefined();
    const own = await readProcessNamespaces('/proc', process.pid);
    // The test runs in the host's namespaces; the unshared child does not.
    expect(host?.namespaces.net).toBe(own?.net);
    expect(host?.namespaces.net).not.toBe(unshared.inodes.net);
  });
});
