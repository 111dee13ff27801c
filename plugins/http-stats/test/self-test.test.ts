import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { processNodeId, type Report } from '@scope-plugins/core';
import { requireComponent, startTestPlugin, type TestPlugin } from '@scope-plugins/core/testing';
import { plugin, TOTAL_KEYS, TRACER_KEY, X86_64_BPF_PROGRAM_PATH } from '../src/index.js';
import { checkTracer, requireTracer, runLoad, startServer, type TestServer } from './helpers.js';

const HOST = 'test-host';
const tracer = await checkTracer();
const running = (r: Report) => Object.values(r.Host?.nodes ?? {}).some((n) => n.latest?.[TRACER_KEY]?.value.startsWith('running') === true);
const requestsOf = (r: Report, pid: number) => Number(r.Process?.nodes?.[processNodeId(HOST, pid)]?.latest?.[TOTAL_KEYS.requests]?.value ?? 0);

describe.sequential('choosing the tracer program by a start-up self-test (x86_64)', () => {
  let t: TestPlugin | undefined;
  let server: TestServer | undefined;
  let dir: string | undefined;

  beforeEach((ctx) => {
    requireTracer(ctx, tracer);
    requireComponent(ctx, 'an x86_64 machine', process.arch === 'x64', 'the program has x86_64 syscall offsets; run on x86_64');
  });
  afterEach(async () => {
    await server?.stop();
    await t?.stop();
    server = undefined;
    t = undefined;
  });
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  async function countsAServer(test: TestPlugin): Promise<void> {
    server = await startServer('node');
    const load = await runLoad(server.port, [{ method: 'GET', status: 200, count: 100 }]);
    expect(load.failures).toBe(0);
    const pid = server.pid;
    await test.waitForReport((r) => requestsOf(r, pid) >= 100, 15_000);
  }

  it('keeps the x86_64 program when the self-test sees its requests', { timeout: 60_000 }, async () => {
    t = await startTestPlugin(plugin, { hostId: HOST, intervalMs: 500, options: { tlsLibraries: 'none' } });
    await t.waitForReport(running, 20_000);
    const test = t;
    await expect.poll(() => test.logs.some((l) => l.includes('start-up self-test passed')), { timeout: 10_000 }).toBe(true);
    expect(test.logs.some((l) => l.includes('switching to the portable program'))).toBe(false);
    await countsAServer(test);
  });

  it('falls back to the portable program, and still counts, when the candidate does not see them', { timeout: 60_000 }, async () => {
    // A candidate that can never match a read syscall number: it runs, but counts no request.
    dir = await mkdtemp(join(tmpdir(), 'hs-selftest-'));
    const blind = join(dir, 'blind.bt');
    const text = await readFile(X86_64_BPF_PROGRAM_PATH, 'utf8');
    const altered = text.replace('if ($nr == 0 || $nr == 45)', 'if ($nr == 9999 || $nr == 9998)').replace('else if ($nr == 19)', 'else if ($nr == 9997)').replace('else if ($nr == 47)', 'else if ($nr == 9996)');
    expect(altered).not.toBe(text);
    await writeFile(blind, altered);
    t = await startTestPlugin(plugin, { hostId: HOST, intervalMs: 500, options: { tlsLibraries: 'none', x86Program: blind } });
    const test = t;
    await expect.poll(() => test.logs.some((l) => l.includes('switching to the portable program')), { timeout: 20_000 }).toBe(true);
    // The second bpftrace (portable program) must be attached before the load starts.
    await expect.poll(() => test.logs.filter((l) => l.includes('tracing HTTP on syscall tracepoints')).length, { timeout: 20_000 }).toBeGreaterThanOrEqual(2);
    await test.waitForReport(running, 20_000);
    await countsAServer(test);
  });
});
