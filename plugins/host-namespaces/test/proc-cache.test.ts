import { spawn } from 'node:child_process';
import { readFileSync, readlinkSync } from 'node:fs';
import { mkdir, mkdtemp, rm, symlink, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execaSync } from 'execa';
import { requireComponent } from '@scope-plugins/core/testing';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { readNamespacesFromProc, readNamespacesWithLsns, type NamespaceScan } from '../src/collect.js';
import { parseStartTime } from '../src/parse.js';
import { createCachedProcReader } from '../src/proc-cache.js';
import { startUnshare, type Unshared } from './helpers/unshare.js';

const hasUtilLinux = (() => {
  try {
    return execaSync('lsns', ['--version'], { timeout: 5000 }).exitCode === 0 && execaSync('unshare', ['--version'], { timeout: 5000 }).exitCode === 0;
  } catch {
    return false;
  }
})();
const isRoot = process.getuid?.() === 0;
const inodeSet = (scan: NamespaceScan) => [...new Set(scan.namespaces.map((n) => `${n.type}:${n.inode}`))].sort();

describe('parseStartTime', () => {
  it('reads field 22 after a command holding spaces and parentheses', () => {
    // Real line of a process named "a) b" (Linux 6.1), fields 3..22 after the command.
    const line = '4242 (a) b) S 1 4242 4242 0 -1 4194560 120 0 0 0 0 0 0 0 20 0 1 0 987654 2445312 190 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0';
    expect(parseStartTime(line)).toBe('987654');
    expect(parseStartTime('garbage')).toBeUndefined();
    expect(parseStartTime('1 (x) S 0')).toBeUndefined();
  });
});

describe('cached /proc reader on the real host', () => {
  beforeEach((ctx) => requireComponent(ctx, 'lsns and unshare (util-linux) as root', hasUtilLinux && isRoot, 'run as root with util-linux installed'));

  let unshared: Unshared | undefined;
  afterAll(async () => {
    await unshared?.kill();
  });

  /** lsns before and after the read must agree, or the host changed meanwhile and the read is tried again. */
  async function compareWithLsns(read: () => Promise<NamespaceScan>): Promise<string[]> {
    const attempts: string[] = [];
    for (let attempt = 0; attempt < 20; attempt++) {
      if (attempt > 0) await new Promise((resolve) => setTimeout(resolve, 200));
      const before = inodeSet(await readNamespacesWithLsns());
      const ours = inodeSet(await read());
      const after = inodeSet(await readNamespacesWithLsns());
      if (JSON.stringify(before) !== JSON.stringify(after)) {
        attempts.push(`unstable: ${before.length} → ${after.length}`);
        continue;
      }
      expect(ours).toEqual(before);
      return ours;
    }
    throw new Error(`namespaces never held still long enough to compare: ${attempts.join('; ')}`);
  }

  it('equals lsns on every read, shows a new namespace on the next read and drops it on the read after it vanished', { timeout: 60_000 }, async () => {
    // A long period: only new and vanished processes can explain what the reads below see.
    const reader = createCachedProcReader('/proc', { verifyPeriodMs: 3_600_000 });
    await compareWithLsns(() => reader.read());
    const full = reader.lastRead().reads;
    unshared = await startUnshare(60);
    const withTree = await compareWithLsns(() => reader.read());
    expect(withTree).toContain(`net:${unshared.inodes.net}`);
    expect(withTree).toContain(`pid:${unshared.inodes.pid}`);
    await unshared.kill();
    const gone = await compareWithLsns(() => reader.read());
    expect(gone).not.toContain(`net:${unshared.inodes.net}`);
    // What the cache saves: an unchanged host is not read again process by process.
    await reader.read();
    expect(reader.lastRead().reads).toBeLessThan(full);
  });

  it('sees a namespace change of a running process (same pid, same start time) within the verification period', { timeout: 60_000 }, async () => {
    // The shell waits for a line on stdin, then becomes `unshare --uts sleep 60` in place: same pid, new uts namespace.
    const child = spawn('sh', ['-c', 'read line; exec unshare --uts sleep 60'], { stdio: ['pipe', 'ignore', 'ignore'] });
    const pid = child.pid!;
    try {
      let clock = 1_000_000;
      const verifyPeriodMs = 30_000;
      const reader = createCachedProcReader('/proc', { verifyPeriodMs, now: () => clock });
      const hostUts = readlinkSync(`/proc/${pid}/ns/uts`).replace(/\D/g, '');
      // Read twice so the shell is neither new nor young any more: only rotation can find the change.
      await reader.read();
      clock += 2000;
      await reader.read();
      const startTime = parseStartTime(readFileSync(`/proc/${pid}/stat`, 'utf8'));
      child.stdin.write('go\n');
      let newUts = hostUts;
      for (let i = 0; i < 100 && newUts === hostUts; i++) {
        await new Promise((resolve) => setTimeout(resolve, 20));
        newUts = readlinkSync(`/proc/${pid}/ns/uts`).replace(/\D/g, '');
      }
      expect(newUts).not.toBe(hostUts);
      expect(parseStartTime(readFileSync(`/proc/${pid}/stat`, 'utf8'))).toBe(startTime);
      // Reads every 2 s of (fake) time: the new namespace must show up within the period plus one interval.
      let seenAfterMs: number | undefined;
      for (let elapsed = 2000; elapsed <= verifyPeriodMs + 2000; elapsed += 2000) {
        clock += 2000;
        const scan = await reader.read();
        const record = scan.namespaces.find((n) => n.inode === newUts);
        if (record) {
          seenAfterMs = elapsed;
          expect(record).toMatchObject({ type: 'uts', nprocs: 1, pid, command: 'sleep 60' });
          break;
        }
      }
      expect(seenAfterMs).toBeDefined();
      await compareWithLsns(() => reader.read());
    } finally {
      child.kill('SIGKILL');
    }
  });
});

describe('cached /proc reader on the real host: quiet processes', () => {
  beforeEach((ctx) => requireComponent(ctx, 'lsns, unshare and nsenter (util-linux) as root', hasUtilLinux && isRoot, 'run as root with util-linux installed'));
  const children: ReturnType<typeof spawn>[] = [];
  afterEach(() => {
    for (const child of children.splice(0)) child.kill('SIGKILL');
  });
  const inodeOf = (pid: number, type: string) => readlinkSync(`/proc/${pid}/ns/${type}`).replace(/\D/g, '');
  async function waitUntil(check: () => boolean, what: string) {
    for (let i = 0; i < 250 && !check(); i++) await new Promise((resolve) => setTimeout(resolve, 20));
    if (!check()) throw new Error(`timed out waiting for ${what}`);
  }

  it('sees a process that sat idle through several verification periods change its namespace in place, within one period', { timeout: 60_000 }, async () => {
    // Blocked in `read`, the shell is never scheduled: every check of it finds its schedstat unchanged.
    const child = spawn('sh', ['-c', 'read line; exec unshare --uts sleep 60'], { stdio: ['pipe', 'ignore', 'ignore'] });
    children.push(child);
    const pid = child.pid!;
    const hostUts = inodeOf(pid, 'uts');
    let clock = 1_000_000;
    const verifyPeriodMs = 10_000;
    const reader = createCachedProcReader('/proc', { verifyPeriodMs, now: () => clock });
    const sched = () => readFileSync(`/proc/${pid}/schedstat`, 'utf8');
    await reader.read();
    const idle = sched();
    // Five periods of reads every 2 s: the shell is checked (not read) at least five times.
    for (let elapsed = 0; elapsed < 5 * verifyPeriodMs; elapsed += 2000) {
      clock += 2000;
      await reader.read();
    }
    expect(sched()).toBe(idle);
    child.stdin!.write('go\n');
    await waitUntil(() => inodeOf(pid, 'uts') !== hostUts, 'the shell to unshare its uts namespace');
    const newUts = inodeOf(pid, 'uts');
    let seenAfterMs: number | undefined;
    for (let elapsed = 2000; elapsed <= verifyPeriodMs + 2000 && seenAfterMs === undefined; elapsed += 2000) {
      clock += 2000;
      const record = (await reader.read()).namespaces.find((n) => n.inode === newUts);
      if (record) {
        seenAfterMs = elapsed;
        expect(record).toMatchObject({ type: 'uts', nprocs: 1, pid, command: 'sleep 60' });
      }
    }
    expect(seenAfterMs).toBeDefined();
  });

  it('counts a running process that joins an existing namespace in place (inPlaceChanges), which moves only counts', { timeout: 60_000 }, async () => {
    // The target: a net namespace already holding a process. The shell then becomes `nsenter --net=… sleep 60` in
    // place: same pid and start time, now in that namespace, which gains one process and no row comes or goes.
    const target = spawn('unshare', ['--net', 'sleep', '60'], { stdio: 'ignore' });
    children.push(target);
    await waitUntil(() => readFileSync(`/proc/${target.pid}/cmdline`, 'utf8').startsWith('sleep'), 'unshare to exec sleep');
    const net = inodeOf(target.pid!, 'net');
    const child = spawn('sh', ['-c', `read line; exec nsenter --net=/proc/${target.pid}/ns/net sleep 60`], { stdio: ['pipe', 'ignore', 'ignore'] });
    children.push(child);
    const pid = child.pid!;
    await waitUntil(() => readFileSync(`/proc/${pid}/cmdline`, 'utf8').startsWith('sh'), 'the shell to start');
    let clock = 1_000_000;
    const verifyPeriodMs = 10_000;
    const reader = createCachedProcReader('/proc', { verifyPeriodMs, now: () => clock });
    await reader.read();
    clock += 2000;
    const before = await reader.read();
    expect(before.namespaces.find((n) => n.inode === net)).toMatchObject({ nprocs: 1, pid: target.pid });
    child.stdin!.write('go\n');
    await waitUntil(() => inodeOf(pid, 'net') === net && readFileSync(`/proc/${pid}/cmdline`, 'utf8').startsWith('sleep'), 'the shell to join the namespace');
    let after: NamespaceScan | undefined;
    for (let elapsed = 2000; elapsed <= verifyPeriodMs + 2000 && after === undefined; elapsed += 2000) {
      clock += 2000;
      const scan = await reader.read();
      if (scan.namespaces.find((n) => n.inode === net)?.nprocs === 2) after = scan;
    }
    expect(after).toBeDefined();
    // Other processes of the host may move too meanwhile: at least this one was counted.
    expect(after!.inPlaceChanges).toBeGreaterThan(before.inPlaceChanges!);
  });

  it('moves the lowest pid and the count of a namespace as its members exit, as lsns shows them', { timeout: 60_000 }, async () => {
    // Three sleeps in one new net namespace: the first makes it, two join it with nsenter.
    const first = spawn('unshare', ['--net', 'sleep', '60'], { stdio: 'ignore' });
    children.push(first);
    await waitUntil(() => readFileSync(`/proc/${first.pid}/cmdline`, 'utf8').startsWith('sleep'), 'unshare to exec sleep');
    const net = inodeOf(first.pid!, 'net');
    for (let i = 0; i < 2; i++) {
      const member = spawn('nsenter', [`--net=/proc/${first.pid}/ns/net`, 'sleep', '60'], { stdio: 'ignore' });
      children.push(member);
      await waitUntil(() => readFileSync(`/proc/${member.pid}/cmdline`, 'utf8').startsWith('sleep') && inodeOf(member.pid!, 'net') === net, 'nsenter to exec sleep');
    }
    // A period of an hour: only processes coming and going move the counts below.
    const reader = createCachedProcReader('/proc', { verifyPeriodMs: 3_600_000 });
    const ours = async () => (await reader.read()).namespaces.find((n) => n.inode === net);
    const lsns = async () => (await readNamespacesWithLsns({ types: ['net'] })).namespaces.find((n) => n.inode === net);
    const byPid = [...children].sort((a, b) => a.pid! - b.pid!);
    for (let left = 3; left > 0; left--) {
      const expected = await lsns();
      expect(expected).toMatchObject({ nprocs: left, pid: byPid[0]!.pid, command: 'sleep 60' });
      expect(await ours()).toEqual(expected);
      // The lowest pid exits: the namespace lives on in the others, led by the next one.
      const leaving = byPid.shift()!;
      // Waited for until reaped: a zombie still has a /proc entry (without its net link).
      const exited = new Promise((resolve) => leaving.once('exit', resolve));
      leaving.kill('SIGKILL');
      await exited;
    }
    expect(await lsns()).toBeUndefined();
    expect(await ours()).toBeUndefined();
  });
});

describe('cached /proc reader on a controlled proc tree', () => {
  // A fake proc tree: readlink gives the link text as for the real ns links; schedstat is a plain file the test
  // rewrites when "the process ran". No stat/loadavg, so the reader lists the tree on every read.
  let root: string;
  afterEach(async () => {
    await rm(root, { recursive: true, force: true });
  });

  async function setProcess(pid: number, ns: Record<string, string>, files: { cmdline?: string; sched?: string } = {}) {
    const dir = join(root, String(pid));
    await rm(dir, { recursive: true, force: true });
    await mkdir(join(dir, 'ns'), { recursive: true });
    for (const [type, inode] of Object.entries(ns)) await symlink(`${type}:[${inode}]`, join(dir, 'ns', type));
    await writeFile(join(dir, 'cmdline'), files.cmdline ?? `proc${pid}\0`);
    if (files.sched !== undefined) await writeFile(join(dir, 'schedstat'), files.sched);
  }
  async function setLink(pid: number, type: string, inode: string) {
    await unlink(join(root, String(pid), 'ns', type)).catch(() => undefined);
    await symlink(`${type}:[${inode}]`, join(root, String(pid), 'ns', type));
  }
  const setSched = (pid: number, sched: string) => writeFile(join(root, String(pid), 'schedstat'), sched);
  const types = ['net', 'uts', 'ipc'] as const;

  it('keeps counts, lowest pids, owners and commands equal to a full walk while processes come, go, move and exec', async () => {
    root = await mkdtemp(join(tmpdir(), 'hn-cache-'));
    // A fixed pseudo-random sequence (mulberry32): the same steps on every run, many shapes of change.
    let seed = 0x5eed;
    const random = () => {
      seed = (seed + 0x6d2b79f5) | 0;
      let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
      t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
    const pick = <T>(values: readonly T[]): T => values[Math.floor(random() * values.length)]!;
    // Five namespaces per type; nsfs inodes are unique across types, as the real ones are.
    const inodesOf = (type: (typeof types)[number]) => ['1', '2', '3', '4', '5'].map((n) => `${types.indexOf(type) + 1}${n}`);
    const live = new Map<number, number>();
    // Time on a CPU only grows, and differs between two processes (even one reusing a pid): one counter for all.
    let ranNs = 1000;
    let clock = 0;
    // Period 0: every process is checked on every read, so an in-place change (with its schedstat) shows at once.
    const reader = createCachedProcReader(root, { types, verifyPeriodMs: 0, now: () => clock });
    // Namespaces of each live pid, to count the reads that must find a known pid in other namespaces.
    const namespacesOf = new Map<number, Record<string, string>>();
    let inPlace = 0;
    const expectSameAsFullWalk = async (step: string) => {
      clock += 1000;
      const cached = await reader.read();
      const full = await readNamespacesFromProc(root, { types });
      const { inPlaceChanges, ...counted } = cached;
      expect({ step, ...counted }).toEqual({ step, ...full });
      // Processes coming and going are not in-place changes; a live pid found in other namespaces is.
      expect({ step, inPlaceChanges }).toEqual({ step, inPlaceChanges: inPlace });
    };
    for (let step = 0; step < 300; step++) {
      const action = live.size < 3 ? 'add' : pick(['add', 'add', 'remove', 'move', 'exec', 'nothing'] as const);
      if (action === 'add') {
        const pid = 1 + Math.floor(random() * 60);
        live.set(pid, 1);
        const ns = Object.fromEntries(types.map((type) => [type, pick(inodesOf(type))]));
        // A live pid replaced between two reads (reused unseen): the reader can only tell it by reading it again.
        const before = namespacesOf.get(pid);
        if (before && types.some((type) => before[type] !== ns[type])) inPlace++;
        namespacesOf.set(pid, ns);
        await setProcess(pid, ns, { sched: `${ranNs++} 0 1\n` });
      } else if (action === 'remove') {
        const pid = pick([...live.keys()]);
        live.delete(pid);
        namespacesOf.delete(pid);
        await rm(join(root, String(pid)), { recursive: true, force: true });
      } else if (action === 'move') {
        // setns/unshare in place: it ran, so its schedstat moved.
        const pid = pick([...live.keys()]);
        live.set(pid, live.get(pid)! + 1);
        const type = pick(types);
        const inode = pick(inodesOf(type));
        const ns = namespacesOf.get(pid)!;
        if (ns[type] !== inode) inPlace++;
        ns[type] = inode;
        await setLink(pid, type, inode);
        await setSched(pid, `${ranNs++} 0 ${live.get(pid)}\n`);
      } else if (action === 'exec') {
        const pid = pick([...live.keys()]);
        live.set(pid, live.get(pid)! + 1);
        await writeFile(join(root, String(pid), 'cmdline'), `exec${step}\0`);
        await setSched(pid, `${ranNs++} 0 ${live.get(pid)}\n`);
      }
      await expectSameAsFullWalk(`step ${step}: ${action}`);
    }
  });

  it('reads a process again only once it has run (schedstat moved), and every period when it has no schedstat', async () => {
    root = await mkdtemp(join(tmpdir(), 'hn-cache-'));
    await setProcess(5, { net: '21', uts: '31', ipc: '41' }, { sched: '1000 10 3\n' });
    await setProcess(6, { net: '22', uts: '31', ipc: '41' });
    let clock = 0;
    const reader = createCachedProcReader(root, { types, verifyPeriodMs: 10_000, now: () => clock });
    await reader.read();
    // The first read spreads the next checks over the period; after this one both are due at the same time.
    clock += 10_000;
    await reader.read();
    const netOf = async () => (await reader.read()).namespaces.filter((n) => n.type === 'net').map((n) => n.inode);
    // Links changed behind the reader's back. Pid 5's schedstat says it never ran, which a real process cannot do:
    // the reader trusts it, and checks only that one small file, even past the period.
    await setLink(5, 'net', '23');
    await setLink(6, 'net', '24');
    clock += 5_000;
    expect(await netOf()).toEqual(['21', '22']);
    clock += 6_000;
    expect(await netOf()).toEqual(['21', '24']);
    expect(reader.lastRead()).toMatchObject({ reads: 1, checks: 2 });
    // Once it has run, the next check reads it again.
    await setSched(5, '1200 10 4\n');
    clock += 11_000;
    expect(await netOf()).toEqual(['23', '24']);
    // A kernel without sched info prints zeros: such a process is read in full every period.
    await setSched(5, '0 0 0\n');
    clock += 11_000;
    await reader.read();
    await setLink(5, 'net', '25');
    clock += 11_000;
    expect(await netOf()).toEqual(['24', '25']);
  });
});
