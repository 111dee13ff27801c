import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { pluginSocketPath, pollReport } from '@scope-plugins/core';

// A full disk must not matter: no plugin writes to disk. The suite runs all four plugins, polled like the
// probe, while the kernel's own accounting says what reached the storage layer (write_bytes in
// /proc/<pid>/io, for the suite and every child it runs) and /proc/<pid>/fdinfo says which open regular
// files are open for writing.

const CLI = new URL('../dist/cli.js', import.meta.url).pathname;
const IDS = ['host-namespaces', 'http-stats', 'iowait', 'volume-count'];
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

let child: ChildProcess | undefined;
let root = '';
afterAll(async () => {
  if (child && child.exitCode === null) {
    child.kill('SIGTERM');
    await new Promise((resolve) => child!.once('close', resolve));
  }
  if (root) await rm(root, { recursive: true, force: true });
});

function descendants(pid: number): number[] {
  const byParent = new Map<number, number[]>();
  for (const name of readdirSync('/proc').filter((n) => /^\d+$/.test(n))) {
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      byParent.set(ppid, [...(byParent.get(ppid) ?? []), Number(name)]);
    } catch {
      // Gone meanwhile.
    }
  }
  const out = [pid];
  for (let i = 0; i < out.length; i++) out.push(...(byParent.get(out[i]!) ?? []));
  return out;
}

function writeBytes(pid: number): number {
  try {
    return Number(/^write_bytes: (\d+)$/m.exec(readFileSync(`/proc/${pid}/io`, 'utf8'))?.[1] ?? 0);
  } catch {
    return 0;
  }
}

/** Regular files a process holds open for writing (O_WRONLY or O_RDWR), as `path (flags)`. */
function filesOpenForWriting(pid: number): string[] {
  const out: string[] = [];
  let fds: string[] = [];
  try {
    fds = readdirSync(`/proc/${pid}/fd`);
  } catch {
    return out;
  }
  for (const fd of fds) {
    try {
      const target = readlinkSync(`/proc/${pid}/fd/${fd}`);
      // Sockets, pipes, anonymous inodes and devices (/dev/null, a tty) are not the disk.
      if (!target.startsWith('/') || target.startsWith('/dev/') || target.startsWith('/proc/') || target.startsWith('/sys/')) continue;
      const flags = Number.parseInt(/^flags:\s+(\d+)$/m.exec(readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8'))?.[1] ?? '0', 8);
      if ((flags & 3) !== 0) out.push(`${target} (pid ${pid}, flags ${flags.toString(8)})`);
    } catch {
      // Closed meanwhile.
    }
  }
  return out;
}

describe('no plugin writes to disk', () => {
  it('the measure sees a write: a process that writes 1 MiB and syncs shows it in write_bytes', { timeout: 30_000 }, async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sp-nodisk-control-'));
    try {
      const script = `const fs = require('node:fs'); const fd = fs.openSync(${JSON.stringify(join(dir, 'f'))}, 'w'); fs.writeSync(fd, Buffer.alloc(1 << 20, 1)); fs.fsyncSync(fd); fs.closeSync(fd); console.log('done'); setTimeout(() => undefined, 5000);`;
      const writer = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'ignore'] });
      await new Promise((resolve) => writer.stdout!.once('data', resolve));
      expect(writeBytes(writer.pid!)).toBeGreaterThanOrEqual(1 << 20);
      writer.kill('SIGKILL');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('the suite with all four plugins, polled for 15 s, writes 0 bytes to storage and holds no file open for writing', { timeout: 120_000 }, async () => {
    root = await mkdtemp(join(tmpdir(), 'sp-nodisk-'));
    child = spawn(process.execPath, [CLI, 'run', '--root', root, '--log-level', 'info'], { stdio: ['ignore', 'ignore', 'ignore'], env: { ...process.env, SCOPE_HOSTNAME: 'h' } });
    for (const id of IDS) {
      for (let i = 0; i < 300; i++) {
        const answer = await pollReport(pluginSocketPath(root, id), undefined, 500);
        if (answer.ok && answer.statusCode === 200) break;
        await sleep(100);
      }
    }
    // Start-up (module loading, bpftrace compiling) is over; from here on the plugins only collect and serve.
    await sleep(2000);
    const tree = descendants(child.pid!);
    const before = new Map(tree.map((pid) => [pid, writeBytes(pid)]));
    const writers: string[] = [];
    for (let second = 0; second < 15; second++) {
      await Promise.all(IDS.map((id) => pollReport(pluginSocketPath(root, id), undefined, 500)));
      for (const pid of descendants(child.pid!)) writers.push(...filesOpenForWriting(pid));
      await sleep(1000);
    }
    const after = descendants(child.pid!);
    const written = after.map((pid) => ({ pid, bytes: writeBytes(pid) - (before.get(pid) ?? 0) })).filter((w) => w.bytes !== 0);
    process.stdout.write(`no disk writes: ${after.length} processes (suite + children) watched for 15 s\n`);
    expect(written).toEqual([]);
    expect([...new Set(writers)]).toEqual([]);
    expect(child.exitCode).toBe(null);
  });
});
