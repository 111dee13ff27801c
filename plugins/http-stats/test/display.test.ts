import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { containerNodeId, findPriorityCollisions, processNodeId, type Report } from '@scope-plugins/core';
import { renderNode, requireComponent, startTestPlugin, type RenderedNode, type TestPlugin } from '@scope-plugins/core/testing';
import { plugin, PROCESS_COUNT_KEY, TOTAL_KEYS, TRACER_KEY } from '../src/index.js';
import { checkTracer, requireTracer, runLoad, startServer, type LoadResult, type LoadStep, type TestServer } from './helpers.js';

// What a Scope user reads on a process and on a container that serves HTTP, from the served report.
const HOST = 'test-host';
const IMAGE = 'scope-plugins-test/busybox:latest';
const SERVERS_DIR = fileURLToPath(new URL('./servers/', import.meta.url));
const tracer = await checkTracer();
const docker = (args: string[]) => execa('docker', args, { timeout: 60_000 }).then((r) => r.stdout.trim());
const imageThere = await docker(['image', 'inspect', IMAGE]).then(() => true, () => false);

const PLAN_A: LoadStep[] = [
  { method: 'GET', status: 200, count: 120 },
  { method: 'POST', status: 201, count: 40 },
  { method: 'GET', status: 404, count: 60 },
];
const PLAN_B: LoadStep[] = [
  { method: 'GET', status: 200, count: 80 },
  { method: 'DELETE', status: 500, count: 20 },
];
const sum = (plan: LoadStep[]) => plan.reduce((a, s) => a + s.count, 0);

const cell = (table: RenderedNode['tables'][number], column: string) => table.rows.map((r) => r.cells[column]);
const row = (node: RenderedNode, label: string) => [...node.metadata, ...node.moreMetadata].find((r) => r.label === label)?.value;

async function childPids(pid: number): Promise<number[]> {
  const text = await readFile(`/proc/${pid}/task/${pid}/children`, 'utf8');
  return text.trim().split(/\s+/).filter(Boolean).map(Number);
}

describe.sequential('http-stats as a Scope user reads it (real bpftrace, real servers, a real container)', () => {
  let t: TestPlugin;
  let hostServer: TestServer;
  let containerId = '';
  let containerPids: number[] = [];
  const loads: LoadResult[] = [];

  beforeEach((ctx) => {
    requireTracer(ctx, tracer);
    requireComponent(ctx, `docker with the image ${IMAGE}`, imageThere, 'run scripts/provision.sh (starts dockerd and imports the test image)');
  });

  beforeAll(async () => {
    if (!tracer.available || !imageThere) return;
    t = await startTestPlugin(plugin, { hostId: HOST, intervalMs: 500, options: { tlsLibraries: 'none' } });
    await t.waitForReport((r) => Object.values(r.Host?.nodes ?? {}).some((n) => n.latest?.[TRACER_KEY]?.value.startsWith('running') === true), 20_000);
    hostServer = await startServer('node');
    // Two Node servers in one container (the host's node binary mounted in): the container shows their sum.
    containerId = await docker([
      'run', '-d', '--network', 'host', '--label', 'scope-plugins-test=http-stats',
      '-v', '/usr:/usr:ro', '-v', '/lib:/lib:ro', '-v', '/lib64:/lib64:ro', '-v', `${SERVERS_DIR}:/srv:ro`,
      IMAGE, 'sh', '-c', 'node /srv/node-server.mjs 0 & node /srv/node-server.mjs 0 & wait',
    ]);
    let ports: number[] = [];
    const deadline = Date.now() + 20_000;
    while (ports.length < 2 && Date.now() < deadline) {
      ports = [...(await docker(['logs', containerId])).matchAll(/^listening (\d+)$/gm)].map((m) => Number(m[1]));
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    expect(ports).toHaveLength(2);
    containerPids = await childPids(Number(await docker(['inspect', '--format', '{{.State.Pid}}', containerId])));
    expect(containerPids).toHaveLength(2);
    loads.push(...(await Promise.all([runLoad(hostServer.port, PLAN_A), runLoad(ports[0]!, PLAN_A), runLoad(ports[1]!, PLAN_B)])));
  }, 120_000);

  afterAll(async () => {
    await hostServer?.stop();
    if (containerId) await docker(['rm', '-f', containerId]);
    await t?.stop();
  }, 60_000);

  it('the load generator got every answer', () => {
    expect(loads.map((l) => l.failures)).toEqual([0, 0, 0]);
  });

  it("a process's tables name every row in their first column, with the counts beside it", async () => {
    const id = processNodeId(HOST, hostServer.pid);
    const report = await t.waitForReport((r) => Number(r.Process?.nodes?.[id]?.latest?.[TOTAL_KEYS.responses]?.value ?? 0) >= sum(PLAN_A), 30_000);
    const node = renderNode(report, 'Process', id);
    const [methods, statuses] = [node.tables.find((x) => x.label === 'HTTP requests by method')!, node.tables.find((x) => x.label === 'HTTP responses by status')!];
    expect(methods.columns.map((c) => c.label)).toEqual(['Method', 'Total', 'Per second']);
    expect(cell(methods, 'Method')).toEqual(['GET', 'POST']);
    expect(cell(methods, 'Total')).toEqual(['180', '40']);
    expect(statuses.columns.map((c) => c.label)).toEqual(['Status', 'Total', 'Per second']);
    expect(cell(statuses, 'Status')).toEqual(['200 OK', '201 Created', '404 Not Found']);
    expect(cell(statuses, 'Total')).toEqual(['120', '40', '60']);
    expect(row(node, 'HTTP responses in p50/p99 (last 1 min)')).toBe('220');
    expect(node.metrics.map((m) => m.label)).toEqual(['HTTP Req/Second', 'HTTP Resp 200/Second', 'HTTP Resp 201/Second', 'HTTP Resp 404/Second']);
  });

  it('a container shows the sum over its processes: rates, totals, tables and latency over all of them', async () => {
    const id = containerNodeId(containerId);
    const want = sum(PLAN_A) + sum(PLAN_B);
    const report = await t.waitForReport((r) => Number(r.Container?.nodes?.[id]?.latest?.[TOTAL_KEYS.responses]?.value ?? 0) >= want, 30_000);
    const node = renderNode(report, 'Container', id);
    expect(row(node, 'HTTP requests (total)')).toBe(String(want));
    expect(row(node, 'HTTP responses (total)')).toBe(String(want));
    expect(row(node, 'HTTP-serving processes')).toBe('2');
    const statuses = node.tables.find((x) => x.label === 'HTTP responses by status')!;
    expect(Object.fromEntries(statuses.rows.map((r) => [r.cells['Status'], r.cells['Total']]))).toEqual({ '200 OK': '200', '201 Created': '40', '404 Not Found': '60', '500 Internal Server Error': '20' });
    const methods = node.tables.find((x) => x.label === 'HTTP requests by method')!;
    expect(Object.fromEntries(methods.rows.map((r) => [r.cells['Method'], r.cells['Total']]))).toEqual({ DELETE: '20', GET: '260', POST: '40' });
    // The container's rate is the sum of its two processes' (same report, same window).
    const rate = (r: Report, key: 'Process' | 'Container', nodeId: string) => r[key]!.nodes![nodeId]!.metrics!['http_requests_per_second']!.samples[0]!.value;
    const processRates = containerPids.map((pid) => rate(report, 'Process', processNodeId(HOST, pid)));
    expect(rate(report, 'Container', id)).toBeCloseTo(processRates[0]! + processRates[1]!, 2);
    expect(Number(row(node, 'HTTP responses in p50/p99 (last 1 min)'))).toBe(want);
    expect(Number(row(node, 'HTTP latency p99 (ms)'))).toBeGreaterThanOrEqual(Number(row(node, 'HTTP latency p50 (ms)')));
    // The host's server is in no container: it adds to no container node.
    expect(Object.keys(report.Container?.nodes ?? {})).toEqual([id]);
    expect(report.Container!.nodes![id]!.latest![PROCESS_COUNT_KEY]!.value).toBe('2');
  });

  it('the report passes the doctor, and no priority collides with the probe or another row', async () => {
    const report = await t.report();
    const diagnosis = await t.doctor();
    expect(diagnosis.violations.filter((v) => v.kind !== 'note')).toEqual([]);
    const rows = (key: 'Host' | 'Process' | 'Container') => ({
      metadata: Object.values(report[key]?.metadata_templates ?? {}).map((m) => [m.label, m.priority ?? 0] as [string, number]),
      metrics: Object.values(report[key]?.metric_templates ?? {}).map((m) => [m.label, m.priority ?? 0] as [string, number]),
    });
    expect(findPriorityCollisions({ Host: rows('Host'), Process: rows('Process'), Container: rows('Container') })).toEqual([]);
  });
});

describe.sequential('--exclude', () => {
  let t: TestPlugin;
  let kept: TestServer;
  let excluded: TestServer;
  let answered: LoadResult[] = [];

  beforeEach((ctx) => requireTracer(ctx, tracer));

  beforeAll(async () => {
    if (!tracer.available) return;
    kept = await startServer('node');
    excluded = await startServer('python');
    t = await startTestPlugin(plugin, { hostId: HOST, intervalMs: 500, options: { tlsLibraries: 'none', exclude: 'python3' } });
    await t.waitForReport((r) => Object.values(r.Host?.nodes ?? {}).some((n) => n.latest?.[TRACER_KEY]?.value.startsWith('running') === true), 20_000);
    answered = await Promise.all([runLoad(kept.port, PLAN_B), runLoad(excluded.port, PLAN_B)]);
  }, 60_000);

  afterAll(async () => {
    await kept?.stop();
    await excluded?.stop();
    await t?.stop();
  });

  it('leaves out the processes named by command (python3), and keeps the others', async () => {
    const report = await t.waitForReport((r) => Number(r.Process?.nodes?.[processNodeId(HOST, kept.pid)]?.latest?.[TOTAL_KEYS.responses]?.value ?? 0) >= sum(PLAN_B), 30_000);
    expect(report.Process?.nodes?.[processNodeId(HOST, excluded.pid)]).toBeUndefined();
    // Both servers answered every request: the python one served traffic, and is left out only by --exclude.
    expect(answered.map((l) => l.failures)).toEqual([0, 0]);
    expect(await readFile(`/proc/${excluded.pid}/comm`, 'utf8')).toBe('python3\n');
  });
});
