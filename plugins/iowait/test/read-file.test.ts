import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, statfsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { NotRegularFileError, openKernelFile, readKernelFileSync, readKernelTextOptional, type KernelFile } from '../src/read-file.js';
import { parseProcStatTotal } from '../src/parse.js';
import { fifoHasReader } from './helpers.js';

// Real files only: the kernel's own /proc and cgroup files, and FIFOs, directories and regular files made in a temp dir.

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
const ticks = (text: string) => Object.values(parseProcStatTotal(text)).reduce((a, b) => a + b, 0);

let dir: string;
let kept: KernelFile | undefined;
/** `kept.read()` as a promise, whether it answered synchronously or not. */
const read = async () => kept!.read();
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'iowait-read-'));
});
afterEach(async () => {
  kept?.close();
  kept = undefined;
  await rm(dir, { recursive: true, force: true });
});

describe('openKernelFile', () => {
  it('re-reads /proc/stat synchronously through the kept descriptor, with fresh counters each time', async () => {
    kept = openKernelFile('/proc/stat');
    expect(kept.filesystem()).toBeUndefined();
    const first = await read();
    expect(kept.filesystem()).toBe('proc');
    await sleep(120);
    // Synchronous from the second read on: a string, not a promise.
    const second = kept.read();
    expect(typeof second).toBe('string');
    // The time base of all CPUs moves with wall time: 120 ms is at least 12 ticks of USER_HZ 100 per CPU.
    expect(ticks(second as string)).toBeGreaterThan(ticks(first));
  });

  it('reads a multi-page seq_file whole, as readFileSync does', async () => {
    kept = openKernelFile('/proc/crypto');
    const expected = readFileSync('/proc/crypto', 'latin1');
    expect(expected.length).toBeGreaterThan(4096);
    expect(await read()).toBe(expected);
    expect(kept.read()).toBe(expected);
  });

  it('reads a file on a filesystem not known never to block (cgroupfs) through the thread pool, every time', async () => {
    const candidates = ['/sys/fs/cgroup/cgroup.controllers', '/sys/fs/cgroup/unified/cgroup.controllers', '/sys/fs/cgroup/cpu/cpu.shares', '/sys/fs/cgroup/memory/memory.limit_in_bytes'];
    const path = candidates.find((p) => existsSync(p));
    expect(path, `one of ${candidates.join(', ')}`).toBeDefined();
    const type = `0x${statfsSync(path!).type.toString(16)}`;
    expect(['0x63677270', '0x27e0eb']).toContain(type);
    kept = openKernelFile(path!);
    expect(await read()).toBe(readFileSync(path!, 'latin1'));
    expect(kept.filesystem()).toBe(type);
    const again = kept.read();
    expect(again).toBeInstanceOf(Promise);
    expect(await again).toBe(readFileSync(path!, 'latin1'));
  });

  it('grows its buffer for a file larger than it, and sees a file rewritten in place or replaced', async () => {
    const path = join(dir, 'big');
    const big = 'x'.repeat(100_000) + '\nend\n';
    await writeFile(path, big);
    kept = openKernelFile(path);
    expect(await read()).toBe(big);
    expect(['tmpfs', 'ext4', 'xfs', 'btrfs', 'overlay']).toContain(kept.filesystem());
    await writeFile(path, 'rewritten in place\n');
    expect(kept.read()).toBe('rewritten in place\n');
    await rm(path);
    await writeFile(path, 'a new file under the same name\n');
    expect(await read()).toBe('a new file under the same name\n');
  });

  it('refuses a FIFO put in the file\'s place without holding it open, and reads the file again once it is back', async () => {
    const path = join(dir, 'stat');
    await writeFile(path, 'cpu  1 2 3 4\n');
    kept = openKernelFile(path);
    expect(await read()).toBe('cpu  1 2 3 4\n');
    await rm(path);
    execFileSync('mkfifo', [path]);
    for (let i = 0; i < 3; i++) {
      await expect(read()).rejects.toThrow(new NotRegularFileError(path, 'a FIFO'));
      expect(fifoHasReader(path)).toBe(false);
    }
    await expect(read()).rejects.toThrow(`${path} is a FIFO, not a regular file: refused (a read could block)`);
    await rm(path);
    await writeFile(path, 'cpu  5 6 7 8\n');
    expect(await read()).toBe('cpu  5 6 7 8\n');
  });

  it('says ENOENT for a missing file, and reads it once it appears', async () => {
    const path = join(dir, 'later');
    kept = openKernelFile(path);
    await expect(read()).rejects.toMatchObject({ code: 'ENOENT' });
    await writeFile(path, 'here\n');
    expect(await read()).toBe('here\n');
    await rm(path);
    await expect(read()).rejects.toMatchObject({ code: 'ENOENT' });
  });
});

describe('readKernelFileSync / readKernelTextOptional', () => {
  it('read a sysfs attribute, and refuse a directory or a FIFO by name', async () => {
    const device = readdirSync('/sys/class/block')[0]!;
    expect(readKernelFileSync(`/sys/class/block/${device}/size`)).toBe(readFileSync(`/sys/class/block/${device}/size`, 'latin1'));
    await mkdir(join(dir, 'sub'));
    expect(() => readKernelFileSync(join(dir, 'sub'))).toThrow(new NotRegularFileError(join(dir, 'sub'), 'a directory'));
    execFileSync('mkfifo', [join(dir, 'fifo')]);
    expect(() => readKernelFileSync(join(dir, 'fifo'))).toThrow(new NotRegularFileError(join(dir, 'fifo'), 'a FIFO'));
    expect(fifoHasReader(join(dir, 'fifo'))).toBe(false);
    expect(readKernelTextOptional(join(dir, 'fifo'))).toBeUndefined();
    expect(readKernelTextOptional(join(dir, 'missing'))).toBeUndefined();
    await writeFile(join(dir, 'size'), '2048\n');
    expect(readKernelTextOptional(join(dir, 'size'))).toBe('2048');
  });
});
