import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { processNodeId, type Report } from '@scope-plugins/core';
import { startTestPlugin, type TestPlugin } from '@scope-plugins/core/testing';
import { plugin, TLS_TRACER_KEY, TOTAL_KEYS, TRACER_KEY } from '../src/index.js';
import { checkTracer, requireTracer, runLoad, startServer, type TestServer } from './helpers.js';

const HOST = 'test-host';
const tracer = await checkTracer();

function hostLatest(report: Report, key: string): string {
  return Object.values(report.Host?.nodes ?? {})[0]?.latest?.[key]?.value ?? '';
}

describe.sequential('http-stats and its own traffic, with one bpftrace for HTTP and HTTPS', () => {
  let t: TestPlugin;
  let server: TestServer;

  beforeEach((ctx) => requireTracer(ctx, tracer));

  beforeAll(async () => {
    if (!tracer.available) return;
    // The plugin runs in this test process: its socket's GET /report (sent and answered by this pid) is HTTP too.
    t = await startTestPlugin(plugin, { hostId: HOST, intervalMs: 500, options: { tlsLibraries: `auto,${process.execPath}` } });
    await t.waitForReport((r) => hostLatest(r, TRACER_KEY).startsWith('running') && hostLatest(r, TLS_TRACER_KEY).includes(': running'), 30_000);
    server = await startServer('node');
  }, 60_000);

  afterAll(async () => {
    await server?.stop();
    await t?.stop();
  });

  it('runs HTTP and every HTTPS library in one bpftrace process', async () => {
    const report = await t.report();
    const pid = /bpftrace pid (\d+)/.exec(hostLatest(report, TRACER_KEY))?.[1];
    expect(pid).toBeDefined();
    const tls = hostLatest(report, TLS_TRACER_KEY).split('; ');
    expect(tls.length).toBeGreaterThanOrEqual(2);
    for (const entry of tls) expect(entry).toContain(`running (bpftrace pid ${pid})`);
  });

  it("never counts the plugin's own socket traffic, while another server's requests are counted", async () => {
    for (let i = 0; i < 20; i++) await t.report();
    const load = await runLoad(server.port, [{ method: 'GET', status: 200, count: 50 }]);
    expect(load.failures).toBe(0);
    const report = await t.waitForReport((r) => Number(r.Process?.nodes?.[processNodeId(HOST, server.pid)]?.latest?.[TOTAL_KEYS.requests]?.value ?? 0) >= 50, 10_000);
    expect(report.Process?.nodes?.[processNodeId(HOST, process.pid)]).toBeUndefined();
  });
});
