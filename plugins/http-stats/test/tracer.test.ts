import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createLogger } from '@scope-plugins/core';
import { BPF_PROGRAM_PATH } from '../src/index.js';
import type { TracerEvent } from '../src/parse.js';
import { BPFTRACE_GLIBC_TUNABLES, createTracer, type Tracer } from '../src/tracer.js';
import { checkTracer, requireTracer, runLoad, startServer } from './helpers.js';

const tracer = await checkTracer();

async function until(predicate: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function startTracer(options: Partial<Parameters<typeof createTracer>[0]> = {}) {
  const logs: string[] = [];
  const events: TracerEvent[] = [];
  const tracer: Tracer = createTracer({
    programPath: BPF_PROGRAM_PATH,
    log: createLogger({ level: 'debug', write: (line) => logs.push(line) }),
    onEvent: (event) => events.push(event),
    minBackoffMs: 50,
    maxBackoffMs: 200,
    ...options,
  });
  cleanups.push(() => tracer.stop());
  return { tracer, logs, events };
}

describe.sequential('createTracer with real bpftrace', () => {
  beforeEach((ctx) => requireTracer(ctx, tracer));

  it('streams events, restarts bpftrace after it is killed, and stops it', async () => {
    const { tracer, logs, events } = startTracer();
    await until(() => tracer.status().state === 'running', 20_000, 'bpftrace to attach');
    const first = tracer.status();
    expect(first).toMatchObject({ state: 'running', starts: 1 });
    // bpftrace runs with the malloc settings that return its compiler's freed memory (README, performance).
    const environ = (await readFile(`/proc/${first.pid}/environ`, 'utf8')).split('\0');
    // glibc shortens the variable in place once it has read it: compare what is left with what was passed.
    const tunables = environ.find((e) => e.startsWith('GLIBC_TUNABLES='))?.slice('GLIBC_TUNABLES='.length);
    expect(tunables).toBeTruthy();
    expect((process.env['GLIBC_TUNABLES'] ?? BPFTRACE_GLIBC_TUNABLES).startsWith(tunables!)).toBe(true);

    const server = await startServer('node');
    cleanups.push(() => server.stop());
    await runLoad(server.port, [{ method: 'GET', status: 404, count: 20 }], 2);
    const responses = (e: TracerEvent) => (e.kind === 'counts' ? e.responses : e.kind === 'responses' ? e.entries : []);
    await until(() => events.some((e) => responses(e).some((x) => x.pid === server.pid && x.status === 404)), 10_000, 'the 404s');

    process.kill(first.pid!, 'SIGKILL');
    await until(() => tracer.status().state === 'running' && tracer.status().starts === 2, 20_000, 'the restart');
    expect(logs.filter((l) => l.includes('bpftrace ended (killed by SIGKILL)'))).toHaveLength(1);
    expect(logs.filter((l) => l.includes('tracing HTTP on syscall tracepoints'))).toHaveLength(2);

    const second = tracer.status().pid!;
    await tracer.stop();
    expect(tracer.status().state).toBe('stopped');
    expect(isAlive(second)).toBe(false);
  });

  it("passes bpftrace's own error on and logs a repeated failure once", async () => {
    const dir = await mkdtemp(join(tmpdir(), 'hs-bad-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const program = join(dir, 'broken.bt');
    await writeFile(program, 'tracepoint:syscalls:sys_enter_read { @x = count( }\n');
    const { tracer, logs } = startTracer({ programPath: program });
    await until(() => tracer.status().starts >= 3, 30_000, 'three attempts');
    expect(tracer.status().state).not.toBe('running');
    const ended = logs.filter((l) => l.includes('bpftrace ended'));
    expect(ended).toHaveLength(1);
    expect(ended[0]).toMatch(/exit code 1: .*syntax error/);
  });
});

describe('createTracer without bpftrace', () => {
  it('waits, retrying, with one log line saying how to install it', async () => {
    const { tracer, logs } = startTracer({ bpftrace: '/nonexistent/bpftrace' });
    await until(() => tracer.status().state === 'waiting', 5000, 'the preflight');
    await new Promise((resolve) => setTimeout(resolve, 600));
    expect(tracer.status()).toEqual({ state: 'waiting', reason: 'BPFTRACE_MISSING', starts: 0 });
    expect(logs).toHaveLength(1);
    expect(logs[0]).toContain('warn "cannot trace HTTP: bpftrace is not installed: \\"/nonexistent/bpftrace\\" was not found; install it with `apt-get install -y bpftrace`');
  });

  it('refuses bad options with a TypeError', () => {
    const base = { programPath: BPF_PROGRAM_PATH, log: createLogger({ level: 'silent' }), onEvent: () => undefined };
    expect(() => createTracer({ ...base, minBackoffMs: 0 })).toThrow(/minBackoffMs must be a positive number of milliseconds, got 0/);
    expect(() => createTracer({ ...base, mapKeysMax: 10 })).toThrow(TypeError);
  });
});
