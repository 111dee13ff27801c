import { execFileSync } from 'node:child_process';
import { closeSync, constants, openSync, readFileSync, readdirSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { NotRegularFileError, openKernelFile, readKernelFileSync, readKernelTextOptional, type KernelFile } from '../src/read-file.js';
import { parseProcStatTotal } from '../src/parse.js';

// Real files only: the kernel's own /proc files, and FIFOs, directories and regular files made in a temp dir.

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
const ticks = (text: string) => Object.values(parseProcStatTotal(text)).reduce((a, b) => a + b, 0);

/** Whether some process holds the FIFO open for reading: a non-blocking writer's open fails with ENXIO when none does. */
function fifoHasReader(path: string): boolean {
  try {
    closeSync(openSync(path, constants.O_WRONLY | constants.O_NONBLOCK));
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENXIO') return false;
    throw error;
  }
}

let dir: string;
let kept: KernelFile | undefined;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'iowait-read-'));
});
afterEach(async () => {
  kept?.close();
  kept = undefined;
  await rm(dir, { recursive: true, force: true });
});

describe('openKernelFile', () => {
  it('re-reads /proc/stat through the kept descriptor with fresh counters each time', async () => {
    kept = openKernelFile('/proc/stat');
    const first = kept.read();
    await sleep(120);
    const second = kept.read();
    // The time base of all CPUs moves with wall time: 120 ms is at least 12 ticks of USER_HZ 100 per CPU.
    expect(ticks(second)).toBeGreaterThan(ticks(first));
    expect(second.split('\n')[0]).toMatch(/^cpu\s+\d+/);
  });

  it('reads a multi-page seq_file whole, as readFileSync does', () => {
    kept = openKernelFile('/proc/crypto');
    const expected = readFileSync('/proc/crypto', 'latin1');
    expect(expected.length).toBeGreaterThan(4096);
    expect(kept.read()).toBe(expected);
    expect(kept.read()).toBe(expected);
  });

  it('grows its buffer for a file larger than it, and sees a file rewritten in place or replaced', async () => {
    const path = join(dir, 'big');
    const big = 'x'.repeat(100_000) + '\nend\n';
    await writeFile(path, big);
    kept = openKernelFile(path);
    expect(kept.read()).toBe(big);
    await writeFile(path, 'rewritten in place\n');
    expect(kept.read()).toBe('rewritten in place\n');
    await rm(path);
    await writeFile(path, 'a new file under the same name\n');
    expect(kept.read()).toBe('a new file under the same name\n');
  });

  it('refuses a FIFO put in the file\'s place at once, holds nothing open, and reads the file again once it is back', async () => {
    const path = join(dir, 'stat');
    await writeFile(path, 'cpu  1 2 3 4\n');
    kept = openKernelFile(path);
    expect(kept.read()).toBe('cpu  1 2 3 4\n');
    await rm(path);
    execFileSync('mkfifo', [path]);
    for (let i = 0; i < 3; i++) {
      expect(() => kept!.read()).toThrow(new NotRegularFileError(path, 'a FIFO'));
      expect(fifoHasReader(path)).toBe(false);
    }
    expect(() => kept!.read()).toThrow(`${path} is a FIFO, not a regular file: refused (a read could block)`);
    await rm(path);
    await writeFile(path, 'cpu  5 6 7 8\n');
    expect(kept.read()).toBe('cpu  5 6 7 8\n');
  });

  it('says ENOENT for a missing file, and reads it once it appears', async () => {
    const path = join(dir, 'later');
    kept = openKernelFile(path);
    expect(() => kept!.read()).toThrow(expect.objectContaining({ code: 'ENOENT' }));
    await writeFile(path, 'here\n');
    expect(kept.read()).toBe('here\n');
    await rm(path);
    expect(() => kept!.read()).toThrow(expect.objectContaining({ code: 'ENOENT' }));
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
