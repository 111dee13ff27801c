import { spawn } from 'node:child_process';
import { closeSync, constants, openSync } from 'node:fs';
import { mkdtemp, readFile, rm, statfs } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Report, ReportNode } from '@scope-plugins/core';

const TMPFS_MAGIC = 0x01021994;

/** Waits `ms`. */
export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** A directory on a real disk (O_DIRECT writes on tmpfs cause no iowait, and tmpfs refuses O_DIRECT). */
export async function makeDiskDir(): Promise<string> {
  const candidates = [tmpdir(), new URL('.', import.meta.url).pathname];
  for (const base of candidates) {
    const stats = await statfs(base).catch(() => undefined);
    if (stats && stats.type !== TMPFS_MAGIC) return mkdtemp(join(base, 'iowait-dd-'));
  }
  throw new Error(`no directory on a real disk among ${candidates.join(', ')}`);
}

/** Runs one `dd ... oflag=direct,dsync` of `count` 4 KiB blocks; resolves when it exits (killed after 20 s). */
function runDd(file: string, count: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('dd', ['if=/dev/zero', `of=${file}`, 'bs=4k', `count=${count}`, 'oflag=direct,dsync'], { stdio: ['ignore', 'ignore', 'pipe'], timeout: 20_000 });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`dd exited with ${code}: ${stderr.trim()}`))));
  });
}

/** Starts synchronous direct writes (dd after dd, at most 60 runs or 30 s); `stop()` ends them and removes the file. */
export function startIo(): { stop(): Promise<void> } {
  let stopped = false;
  const hardStop = Date.now() + 30_000;
  const done = (async () => {
    const dir = await makeDiskDir();
    try {
      for (let i = 0; i < 60 && !stopped && Date.now() < hardStop; i++) await runDd(join(dir, 'dd.bin'), 500);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  })();
  return {
    async stop() {
      stopped = true;
      await done;
    },
  };
}

/** The aggregate cpu line of the real /proc/stat in ticks, read without the plugin's parser (the test's own truth). */
export interface RawCpu {
  idle: number;
  iowait: number;
  /** user nice system idle iowait irq softirq steal (guest and guest_nice are already inside user and nice). */
  total: number;
}

/** Reads {@link RawCpu} from /proc/stat. */
export async function readRawCpu(): Promise<RawCpu> {
  const line = (await readFile('/proc/stat', 'utf8')).split('\n').find((l) => l.startsWith('cpu '));
  const fields = line!.trim().split(/\s+/).slice(1, 9).map(Number);
  if (fields.length !== 8 || fields.some((n) => !Number.isSafeInteger(n))) throw new Error(`unexpected /proc/stat cpu line: ${line}`);
  return { idle: fields[3]!, iowait: fields[4]!, total: fields.reduce((a, b) => a + b, 0) };
}

/** The node with `id` in the report's Host topology. */
export function hostNode(report: Report, id: string): ReportNode | undefined {
  return report.Host?.nodes?.[id];
}

/** One `iostat -c` report, with the wall time it arrived. */
export interface IostatReport {
  atMs: number;
  user: number;
  nice: number;
  system: number;
  iowait: number;
  steal: number;
  idle: number;
}

/** Runs `iostat -c 1 <count>` and returns its reports as they arrived (the first is iostat's since-boot average). */
export function runIostat(count: number, onReport?: (report: IostatReport) => void): Promise<IostatReport[]> {
  return new Promise((resolve, reject) => {
    const child = spawn('iostat', ['-c', '1', String(count)], { env: { ...process.env, LC_ALL: 'C', S_COLORS: 'never' }, stdio: ['ignore', 'pipe', 'pipe'], timeout: (count + 10) * 1000 });
    const reports: IostatReport[] = [];
    let buffer = '';
    let headerSeen = false;
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      buffer += chunk.toString();
      let newline;
      while ((newline = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, newline).trim();
        buffer = buffer.slice(newline + 1);
        if (line.startsWith('avg-cpu:')) {
          headerSeen = true;
        } else if (headerSeen && line !== '') {
          headerSeen = false;
          const [user, nice, system, iowait, steal, idle] = line.split(/\s+/).map(Number) as [number, number, number, number, number, number];
          const report = { atMs: Date.now(), user, nice, system, iowait, steal, idle };
          reports.push(report);
          onReport?.(report);
        }
      }
    });
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve(reports) : reject(new Error(`iostat exited with ${code}: ${stderr.trim()}`))));
  });
}

/** True when a command can be run (exits 0 for `--version`-like args). */
export function canRun(command: string, args: string[]): Promise<boolean> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { stdio: 'ignore', timeout: 5000 });
    child.on('error', () => resolve(false));
    child.on('exit', (code) => resolve(code === 0));
  });
}

/** Whether some process holds the FIFO open for reading: a non-blocking writer's open fails with ENXIO when none does. */
export function fifoHasReader(path: string): boolean {
  try {
    closeSync(openSync(path, constants.O_WRONLY | constants.O_NONBLOCK));
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENXIO') return false;
    throw error;
  }
}
