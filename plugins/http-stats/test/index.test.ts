import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { processNodeId, type Report } from '@scope-plugins/core';
import { requireComponent, startTestPlugin, type TestPlugin } from '@scope-plugins/core/testing';
import { plugin, resolveCommand, X86_64_BPF_PROGRAM_PATH, REQUESTS_METRIC, STATUS_TABLE_PREFIX, METHOD_TABLE_PREFIX, TLS_TRACER_KEY, TOTAL_KEYS, TRACER_KEY, statusMetricId } from '../src/index.js';
import { checkTracer, requireTracer, runLoad, startServer, type LoadResult, type LoadStep, type TestServer } from './helpers.js';

const HOST = 'test-host';
const tracer = await checkTracer();

// 2400 requests per server: every code of the issue, three methods, known counts.
const PLAN: LoadStep[] = [
  { method: 'GET', status: 200, count: 600 },
  { method: 'POST', status: 201, count: 400 },
  { method: 'GET', status: 202, count: 300 },
  { method: 'PUT', status: 202, count: 100 },
  { method: 'GET', status: 404, count: 400 },
  { method: 'DELETE', status: 500, count: 200 },
  { method: 'GET', status: 503, count: 400 },
];
const PLANNED = PLAN.reduce((a, s) => a + s.count, 0);

function latest(report: Report, pid: number, key: string): string | undefined {
  return report.Process?.nodes?.[processNodeId(HOST, pid)]?.latest?.[key]?.value;
}

function tracerRunning(report: Report): boolean {
  return Object.values(report.Host?.nodes ?? {}).some((n) => n.latest?.[TRACER_KEY]?.value.startsWith('running') === true);
}

function statusTotals(report: Report, pid: number): Record<number, number> {
  const out: Record<number, number> = {};
  for (const [key, entry] of Object.entries(report.Process?.nodes?.[processNodeId(HOST, pid)]?.latest ?? {})) {
    const match = new RegExp(`^${STATUS_TABLE_PREFIX}(\\d+)___total$`).exec(key);
    if (match) out[Number(match[1])] = Number(entry.value);
  }
  return out;
}

function methodTotals(report: Report, pid: number): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [key, entry] of Object.entries(report.Process?.nodes?.[processNodeId(HOST, pid)]?.latest ?? {})) {
    const match = new RegExp(`^${METHOD_TABLE_PREFIX}([A-Z]+)___total$`).exec(key);
    if (match) out[match[1]!] = Number(entry.value);
  }
  return out;
}

function expectWithinOnePercent(actual: Record<string | number, number>, expected: Record<string | number, number>): void {
  expect(Object.keys(actual).sort()).toEqual(Object.keys(expected).sort());
  for (const [key, want] of Object.entries(expected)) {
    const got = actual[key] ?? 0;
    expect(Math.abs(got - want), `${key}: reported ${got}, load generator saw ${want}`).toBeLessThanOrEqual(Math.ceil(want * 0.01));
  }
}

/** Waits until the plugin's totals for `pid` settle, then checks them against what the load generator saw. */
async function expectCounted(t: TestPlugin, pid: number, load: LoadResult, planned: number): Promise<void> {
  // bpftrace prints its maps every second: wait until the totals have not moved for 2.5 s.
  let previous = '';
  let changedAt = Date.now();
  const report = await t.waitForReport((r) => {
    const totals = `${latest(r, pid, TOTAL_KEYS.requests)}/${latest(r, pid, TOTAL_KEYS.responses)}`;
    if (totals !== previous) {
      previous = totals;
      changedAt = Date.now();
    }
    return Number(latest(r, pid, TOTAL_KEYS.responses) ?? 0) >= planned * 0.99 && Date.now() - changedAt >= 2500;
  }, 30_000);
  expectWithinOnePercent(statusTotals(report, pid), load.byStatus);
  expectWithinOnePercent(methodTotals(report, pid), load.byMethod);
  expect(Math.abs(Number(latest(report, pid, TOTAL_KEYS.requests)) - planned)).toBeLessThanOrEqual(planned * 0.01);

  const node = report.Process!.nodes![processNodeId(HOST, pid)]!;
  expect(Object.keys(node.metrics ?? {}).sort()).toEqual([REQUESTS_METRIC, ...Object.keys(load.byStatus).map((c) => statusMetricId(Number(c)))].sort());
  for (const code of Object.keys(load.byStatus)) {
    expect(report.Process!.metric_templates![statusMetricId(Number(code))]).toEqual({ id: statusMetricId(Number(code)), label: `HTTP Resp ${code}/Second`, priority: Number(code) / 1000 });
  }
  for (const metric of Object.values(node.metrics ?? {})) expect(metric.samples.every((s) => s.value >= 0)).toBe(true);
  const p50 = Number(latest(report, pid, TOTAL_KEYS.latencyP50));
  const p99 = Number(latest(report, pid, TOTAL_KEYS.latencyP99));
  expect(p50).toBeGreaterThan(0);
  expect(p99).toBeGreaterThanOrEqual(p50);
}

/** Starts a Node and a Python server and runs `plan` against both at once, filling `servers` and `loads`. */
async function serveUnderLoad(servers: Partial<Record<'node' | 'python', TestServer>>, loads: Partial<Record<'node' | 'python', LoadResult>>, plan: typeof PLAN): Promise<void> {
  servers.node = await startServer('node');
  servers.python = await startServer('python');
  [loads.node, loads.python] = await Promise.all([runLoad(servers.node.port, plan), runLoad(servers.python.port, plan)]);
}

/** Stops the servers, then the plugin. */
async function stopAll(servers: Partial<Record<'node' | 'python', TestServer>>, t: TestPlugin | undefined): Promise<void> {
  await servers.node?.stop();
  await servers.python?.stop();
  await t?.stop();
}

describe.sequential('http-stats against real servers and bpftrace', () => {
  let t: TestPlugin;
  const servers: Partial<Record<'node' | 'python', TestServer>> = {};
  const loads: Partial<Record<'node' | 'python', LoadResult>> = {};

  beforeEach((ctx) => requireTracer(ctx, tracer));

  beforeAll(async () => {
    if (!tracer.available) return;
    t = await startTestPlugin(plugin, { hostId: HOST, intervalMs: 500 });
    await t.waitForReport(tracerRunning, 20_000);
    await serveUnderLoad(servers, loads, PLAN);
  }, 120_000);

  afterAll(() => stopAll(servers, t));

  it('the load generator got every planned answer', () => {
    for (const load of [loads.node!, loads.python!]) {
      expect(load.failures).toBe(0);
      expect(Object.values(load.byStatus).reduce((a, b) => a + b, 0)).toBe(PLANNED);
    }
  });

  for (const kind of ['node', 'python'] as const) {
    it(`counts ${kind}'s requests and status codes within 1%, each code labelled correctly`, async () => {
      await expectCounted(t, servers[kind]!.pid, loads[kind]!, PLANNED);
    });
  }

  it('passes the protocol doctor', async () => {
    const diagnosis = await t.doctor();
    expect(diagnosis.status).toBe('ok');
    expect(diagnosis.violations.filter((v) => v.kind !== 'note')).toEqual([]);
  });

  it("drops a server's node once the process has exited", async () => {
    const { pid } = servers.python!;
    await servers.python!.stop();
    const report = await t.waitForReport((r) => r.Process?.nodes?.[processNodeId(HOST, pid)] === undefined, 10_000);
    expect(report.Process?.nodes?.[processNodeId(HOST, servers.node!.pid)]).toBeDefined();
  });
});

describe.sequential('http-stats with the x86_64 program (reads without entry probes)', () => {
  let t: TestPlugin;
  const servers: Partial<Record<'node' | 'python', TestServer>> = {};
  const loads: Partial<Record<'node' | 'python', LoadResult>> = {};
  const plan = PLAN.map((s) => ({ ...s, count: s.count / 4 }));
  const planned = PLANNED / 4;

  beforeEach((ctx) => {
    requireTracer(ctx, tracer);
    requireComponent(ctx, 'an x86_64 machine', process.arch === 'x64', 'the program has x86_64 syscall offsets; run on x86_64');
  });

  beforeAll(async () => {
    if (!(tracer.available && process.arch === 'x64')) return;
    t = await startTestPlugin(plugin, { hostId: HOST, intervalMs: 500, options: { program: X86_64_BPF_PROGRAM_PATH, tlsLibraries: 'none' } });
    await t.waitForReport(tracerRunning, 20_000);
    await serveUnderLoad(servers, loads, plan);
  }, 120_000);

  afterAll(() => stopAll(servers, t));

  for (const kind of ['node', 'python'] as const) {
    it(`counts ${kind}'s requests and status codes within 1%`, async () => {
      expect(loads[kind]!.failures).toBe(0);
      await expectCounted(t, servers[kind]!.pid, loads[kind]!, planned);
    });
  }
});

describe.sequential('http-stats in bpftrace AOT mode (--aot: bpftrace-aotrt, no LLVM)', () => {
  let t: TestPlugin;
  let runtime: string | undefined;
  const servers: Partial<Record<'node' | 'python', TestServer>> = {};
  const loads: Partial<Record<'node' | 'python', LoadResult>> = {};

  beforeEach((ctx) => {
    requireTracer(ctx, tracer);
    requireComponent(ctx, 'bpftrace-aotrt', runtime !== undefined, 'it comes with bpftrace (Debian: apt-get install -y bpftrace)');
  });

  beforeAll(async () => {
    runtime = await resolveCommand('bpftrace-aotrt', process.env['PATH']);
    if (!(tracer.available && runtime)) return;
    t = await startTestPlugin(plugin, { hostId: HOST, intervalMs: 500, options: { aot: true } });
    await t.waitForReport(tracerRunning, 30_000);
    await serveUnderLoad(servers, loads, PLAN);
  }, 120_000);

  afterAll(() => stopAll(servers, t));

  it('runs the compiled program in bpftrace-aotrt, which has no LLVM mapped', async () => {
    const tracerLine = Object.values((await t.report()).Host?.nodes ?? {})[0]?.latest?.[TRACER_KEY]?.value ?? '';
    const pid = Number(/bpftrace pid (\d+)/.exec(tracerLine)?.[1]);
    expect((await readFile(`/proc/${pid}/comm`, 'utf8')).trim()).toBe('bpftrace-aotrt');
    expect(await readFile(`/proc/${pid}/maps`, 'utf8')).not.toMatch(/libLLVM|libclang/);
  });

  it("never counts the plugin's own socket traffic (its pid is written into the compiled program)", async () => {
    for (let i = 0; i < 20; i++) await t.report();
    // Two tracer prints later the polls above would show if they were counted.
    await new Promise((resolve) => setTimeout(resolve, 2500));
    expect((await t.report()).Process?.nodes?.[processNodeId(HOST, process.pid)]).toBeUndefined();
  });

  for (const kind of ['node', 'python'] as const) {
    it(`counts ${kind}'s requests and status codes within 1%, each code labelled correctly`, async () => {
      expect(loads[kind]!.failures).toBe(0);
      await expectCounted(t, servers[kind]!.pid, loads[kind]!, PLANNED);
    });
  }
});

describe.sequential('http-stats over HTTPS (OpenSSL uprobes) against real servers', () => {
  let t: TestPlugin;
  const servers: Partial<Record<'node' | 'python', TestServer>> = {};
  const loads: Partial<Record<'node' | 'python', LoadResult>> = {};
  // A quarter of the plaintext plan: TLS handshakes and encryption make each request dearer.
  const plan = PLAN.map((s) => ({ ...s, count: s.count / 4 }));
  const planned = PLANNED / 4;

  beforeEach((ctx) => requireTracer(ctx, tracer));

  beforeAll(async () => {
    if (!tracer.available) return;
    // libssl for Python; the node binary for Node, which links OpenSSL in statically.
    t = await startTestPlugin(plugin, { hostId: HOST, intervalMs: 500, options: { tlsLibraries: `auto,${process.execPath}` } });
    await t.waitForReport((r) => {
      const host = Object.values(r.Host?.nodes ?? {})[0]?.latest ?? {};
      const tls = host[TLS_TRACER_KEY]?.value ?? '';
      return tls.split('; ').length === 2 && tls.split('; ').every((x) => x.includes(': running')) && host[TRACER_KEY]?.value.startsWith('running') === true;
    }, 30_000);
    servers.node = await startServer('node', { tls: true });
    servers.python = await startServer('python', { tls: true });
    [loads.node, loads.python] = await Promise.all([runLoad(servers.node.port, plan, 8, { tls: true }), runLoad(servers.python.port, plan, 8, { tls: true })]);
  }, 120_000);

  afterAll(() => stopAll(servers, t));

  for (const kind of ['node', 'python'] as const) {
    it(`counts ${kind}'s HTTPS requests and status codes within 1%`, async () => {
      expect(loads[kind]!.failures).toBe(0);
      await expectCounted(t, servers[kind]!.pid, loads[kind]!, planned);
    });
  }
});

describe('http-stats when bpftrace cannot run', () => {
  it('keeps serving without process nodes and says once how to fix it', async () => {
    const t = await startTestPlugin(plugin, { hostId: HOST, intervalMs: 200, options: { bpftrace: '/nonexistent/bpftrace', tlsLibraries: 'none' } });
    try {
      const report = await t.waitForReport((r) => Object.values(r.Host?.nodes ?? {}).some((n) => n.latest?.[TRACER_KEY]?.value.startsWith('not running') === true));
      expect(report.Process?.nodes ?? {}).toEqual({});
      expect(report.Host!.nodes![`${HOST};<host>`]!.latest![TRACER_KEY]!.value).toBe('not running: BPFTRACE_MISSING');
      // Several collections and a retry later, still one line.
      await new Promise((resolve) => setTimeout(resolve, 1500));
      const lines = t.logs.filter((l) => l.includes('cannot trace HTTP'));
      expect(lines).toHaveLength(1);
      expect(lines[0]).toContain('apt-get install -y bpftrace');
      const diagnosis = await t.doctor();
      expect(diagnosis.violations.filter((v) => v.kind !== 'note')).toEqual([]);
    } finally {
      await t.stop();
    }
  });
});
