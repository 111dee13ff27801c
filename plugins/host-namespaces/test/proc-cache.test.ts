import { spawn } from 'node:child_process';
import { readFileSync, readlinkSync } from 'node:fs';
import { execaSync } from 'execa';
import { requireComponent } from '@scope-plugins/core/testing';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { readNamespacesWithLsns, type NamespaceScan } from '../src/collect.js';
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
