import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { UNCHANGED, createLogger, createMetricsHub, defineMetricFamily, definePlugin, hostNodeId, parseListenAddress, startPlugin, type MetricsHub, type RunningPlugin } from '../src/index.js';
import { hasExpositionParser, parseExposition, readListeningSockets, requireComponent, scrapeMetrics, type ParsedFamily, type SkippableContext } from '../src/testing/index.js';

const DEMO_BIN = new URL('./fixtures/demo-bin.mjs', import.meta.url).pathname;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const OPENMETRICS = 'application/openmetrics-text; version=1.0.0';

const items = defineMetricFamily({ name: 'demo_items', help: 'Items the demo plugin holds, by colour', kind: 'gauge', labelNames: ['colour'], maxSeries: 2 });
const ticks = defineMetricFamily({ name: 'demo_ticks_total', help: 'Collections the demo plugin ran', kind: 'counter', labelNames: [], maxSeries: 1 });
const waits = defineMetricFamily({ name: 'demo_wait_seconds', help: 'Demo waits', kind: 'histogram', labelNames: [], maxSeries: 1, buckets: [0.01, 0.1] });

interface DemoState {
  colours: string[];
  hangMs?: number;
  /** Write two series over the bound. */
  overflow?: boolean;
  /** Return UNCHANGED without writing anything. */
  unchanged?: boolean;
}

/** A plugin whose report and metrics come from the same state, and whose colours can change between collections. */
function createMetricsPlugin(state: DemoState) {
  let count = 0;
  return definePlugin({
    id: 'metricsdemo',
    label: 'Metrics demo',
    description: 'writes the same numbers to the report and the metrics',
    intervalMs: 100,
    timeoutMs: 300,
    metrics: [items, ticks, waits],
    topologies: { Host: { metadataTemplates: [{ id: 'demo_count', label: 'Count', from: 'latest', priority: 1 }] } },
    create: () => ({
      async collect({ report, hostId, metrics }) {
        if (state.hangMs) await sleep(state.hangMs);
        if (state.unchanged) return UNCHANGED;
        count++;
        report.topology('Host').node(hostNodeId(hostId)).latest('demo_count', count);
        metrics?.set(ticks, {}, count);
        for (const colour of state.colours) metrics?.set(items, { colour }, count);
        // Over the bound: dropped and counted, never thrown into the collection.
        if (state.overflow) {
          metrics?.set(items, { colour: 'overflow-1' }, 1);
          metrics?.set(items, { colour: 'overflow-2' }, 1);
        }
        metrics?.setHistogram(waits, {}, { counts: [count, 1, 2], sum: count * 0.005 + 0.05 + 1 });
      },
    }),
  });
}

let cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  await Promise.allSettled(cleanups.map((c) => c()));
  cleanups = [];
});

async function startWithHub(state: DemoState, listen = '0', logLines: string[] = []): Promise<{ hub: MetricsHub; url: string; running: RunningPlugin }> {
  const root = await mkdtemp(join(tmpdir(), 'sp-me-'));
  const log = createLogger({ level: 'debug', write: (line) => logLines.push(line) });
  const hub = createMetricsHub(log);
  const definition = hub.instrument(createMetricsPlugin(state));
  const url = await hub.listen(parseListenAddress(listen));
  const running = await startPlugin(definition, { root, hostId: 'h', log });
  hub.watch(running);
  cleanups.push(async () => {
    await running.stop();
    await hub.close();
    await rm(root, { recursive: true, force: true });
  });
  return { hub, url, running };
}

function sample(families: ParsedFamily[], name: string, labels: Record<string, string> = {}): number | undefined {
  for (const family of families) {
    for (const s of family.samples) {
      if (s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v)) return s.value;
    }
  }
  return undefined;
}

const haveParser = hasExpositionParser();
const requireParser = (ctx: SkippableContext) =>
  requireComponent(ctx, 'the Prometheus exposition parser (client_python)', haveParser, 'apt-get install python3-prometheus-client (scripts/provision.sh does it)');

describe('GET /metrics over real TCP', () => {
  it('serves the text format and OpenMetrics (by Accept), both accepted by the reference parsers, with the same collection as the report', async (ctx) => {
    requireParser(ctx);
    const { url, running } = await startWithHub({ colours: ['red', 'blue'], overflow: true });
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
    await running.collectNow();
    // The scheduler keeps collecting: take a page whose collection count matches the report read right after it.
    for (let attempt = 0; ; attempt++) {
      const page = await scrapeMetrics(url);
      const count = Number(running.currentReport().Host?.nodes?.[hostNodeId('h')]?.latest?.['demo_count']?.value);
      const families = await parseExposition(page.body, 'prometheus');
      if (sample(families, 'demo_ticks_total') !== count && attempt < 20) continue;
      expect(page.status).toBe(200);
      expect(page.contentType).toBe('text/plain; version=0.0.4; charset=utf-8');
      expect(sample(families, 'demo_ticks_total')).toBe(count);
      expect(sample(families, 'demo_items', { colour: 'red' })).toBe(count);
      expect(sample(families, 'demo_items', { colour: 'blue' })).toBe(count);
      expect(sample(families, 'demo_wait_seconds_bucket', { le: '0.1' })).toBe(count + 1);
      expect(sample(families, 'demo_wait_seconds_count')).toBe(count + 3);
      expect(families.find((f) => f.name === 'demo_items')).toMatchObject({ type: 'gauge', help: 'Items the demo plugin holds, by colour' });
      // The bound held: two overflow series per collection were refused and counted.
      expect(families.find((f) => f.name === 'demo_items')!.samples.map((s) => s.labels['colour']).sort()).toEqual(['blue', 'red']);
      expect(sample(families, 'scope_plugins_metric_samples_dropped_total', { plugin: 'metricsdemo' })).toBe(2 * count);
      expect(sample(families, 'scope_plugins_collections_total', { plugin: 'metricsdemo' })).toBe(count);
      expect(sample(families, 'scope_plugins_up', { plugin: 'metricsdemo' })).toBe(1);
      break;
    }
    const om = await scrapeMetrics(url, OPENMETRICS);
    expect(om.contentType).toBe('application/openmetrics-text; version=1.0.0; charset=utf-8');
    expect(om.body.endsWith('# EOF\n')).toBe(true);
    const omFamilies = await parseExposition(om.body, 'openmetrics');
    expect(omFamilies.find((f) => f.name === 'demo_ticks')).toMatchObject({ type: 'counter' });
    expect(omFamilies.find((f) => f.name === 'demo_wait_seconds')).toMatchObject({ type: 'histogram' });
    // And the text page, asked again afterwards, still names the counter with _total (prom-client renames in place).
    expect((await scrapeMetrics(url)).body).toMatch(/^demo_ticks_total \d+$/m);
  });

  it('series the collection no longer writes go away; a timed-out collection publishes nothing and counts as an error', async (ctx) => {
    requireParser(ctx);
    const state: DemoState = { colours: ['red', 'blue'] };
    const { url, running } = await startWithHub(state);
    await running.collectNow();
    state.colours = ['red'];
    await running.collectNow();
    let families = await parseExposition((await scrapeMetrics(url)).body, 'prometheus');
    expect(families.find((f) => f.name === 'demo_items')!.samples.map((s) => s.labels['colour'])).toEqual(['red']);
    const before = sample(families, 'demo_ticks_total');
    state.hangMs = 1000;
    // Wait for a collection to time out (timeoutMs 300) and be counted.
    for (let i = 0; i < 50 && (sample(families, 'scope_plugins_errors_total', { plugin: 'metricsdemo', stage: 'collect' }) ?? 0) === 0; i++) {
      await sleep(100);
      families = await parseExposition((await scrapeMetrics(url)).body, 'prometheus');
    }
    expect(sample(families, 'scope_plugins_errors_total', { plugin: 'metricsdemo', stage: 'collect' })).toBeGreaterThan(0);
    // Let the late collection finish: it must not publish (the report did not take it either).
    await sleep(1200);
    families = await parseExposition((await scrapeMetrics(url)).body, 'prometheus');
    const reportCount = Number(running.currentReport().Host?.nodes?.[hostNodeId('h')]?.latest?.['demo_count']?.value);
    expect(sample(families, 'demo_ticks_total')).toBe(reportCount);
    expect(reportCount).toBeGreaterThanOrEqual(before!);
    expect(sample(families, 'scope_plugins_consecutive_misses', { plugin: 'metricsdemo' })).toBeGreaterThan(0);
  });

  it('a collection that says UNCHANGED keeps both the report and the series of the collection before it', async (ctx) => {
    requireParser(ctx);
    const state: DemoState = { colours: ['red'] };
    const { url, running } = await startWithHub(state);
    await running.collectNow();
    state.unchanged = true;
    const before = Number(running.currentReport().Host?.nodes?.[hostNodeId('h')]?.latest?.['demo_count']?.value);
    const collections = running.health().collections;
    await running.collectNow();
    await running.collectNow();
    expect(running.health().collections).toBeGreaterThanOrEqual(collections + 2);
    // The report is the previous one (not an empty one), and so are the series.
    expect(Number(running.currentReport().Host?.nodes?.[hostNodeId('h')]?.latest?.['demo_count']?.value)).toBe(before);
    const families = await parseExposition((await scrapeMetrics(url)).body, 'prometheus');
    expect(sample(families, 'demo_ticks_total')).toBe(before);
    expect(sample(families, 'demo_items', { colour: 'red' })).toBe(before);
    expect(sample(families, 'scope_plugins_collections_total', { plugin: 'metricsdemo' })).toBeGreaterThanOrEqual(collections + 2);
  });

  it('a plugin that cannot start is down, with its failed starts counted, so an alert can fire', async (ctx) => {
    requireParser(ctx);
    const root = await mkdtemp(join(tmpdir(), 'sp-me-'));
    const hub = createMetricsHub(createLogger({ level: 'silent' }));
    const broken = hub.instrument({ ...createMetricsPlugin({ colours: [] }), create: () => Promise.reject(new Error('no such tool')) });
    const url = await hub.listen(parseListenAddress('0'));
    const running = await startPlugin(broken, { root, hostId: 'h', log: createLogger({ level: 'silent' }) });
    hub.watch(running);
    cleanups.push(async () => {
      await running.stop();
      await hub.close();
      await rm(root, { recursive: true, force: true });
    });
    const families = await parseExposition((await scrapeMetrics(url)).body, 'prometheus');
    expect(sample(families, 'scope_plugins_up', { plugin: 'metricsdemo' })).toBe(0);
    expect(sample(families, 'scope_plugins_errors_total', { plugin: 'metricsdemo', stage: 'create' })).toBeGreaterThanOrEqual(1);
    expect(sample(families, 'scope_plugins_last_success_timestamp_seconds', { plugin: 'metricsdemo' })).toBeUndefined();
    expect(sample(families, 'scope_plugins_collections_total', { plugin: 'metricsdemo' })).toBe(0);
  });

  it('answers only GET/HEAD /metrics', async () => {
    const { url } = await startWithHub({ colours: [] });
    expect((await fetch(url.replace('/metrics', '/'))).status).toBe(404);
    expect((await fetch(url, { method: 'POST' })).status).toBe(405);
    const head = await fetch(url, { method: 'HEAD' });
    expect([head.status, await head.text()]).toEqual([200, '']);
  });

  it('a non-loopback address is the user\'s explicit choice, and is logged as such', async () => {
    const lines: string[] = [];
    const { url } = await startWithHub({ colours: [] }, '0.0.0.0:0', lines);
    expect(url).toMatch(/^http:\/\/0\.0\.0\.0:\d+\/metrics$/);
    expect(lines.find((l) => l.includes('non-loopback'))).toMatch(/ warn .*url=http:\/\/0\.0\.0\.0:\d+\/metrics/);
  });

  it('two plugins declaring one family are refused at start', () => {
    const hub = createMetricsHub(createLogger({ level: 'silent' }));
    hub.instrument(createMetricsPlugin({ colours: [] }));
    expect(() => hub.instrument({ ...createMetricsPlugin({ colours: [] }), id: 'other' })).toThrow('plugin other: metric demo_items is already declared by metricsdemo');
  });
});

describe('a bin', () => {
  async function spawnDemo(args: string[]): Promise<{ child: ChildProcess; stderr: () => string }> {
    const root = await mkdtemp(join(tmpdir(), 'sp-mb-'));
    const child = spawn(process.execPath, [DEMO_BIN, '--root', root, '--log-level', 'info', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    cleanups.push(async () => {
      if (child.exitCode === null) {
        const closed = new Promise((resolve) => child.on('close', resolve));
        child.kill('SIGTERM');
        await closed;
      }
      await rm(root, { recursive: true, force: true });
    });
    for (let i = 0; i < 100 && !stderr.includes(' info serving plugin='); i++) await sleep(50);
    expect(stderr).toContain(' info serving plugin=');
    return { child, stderr: () => stderr };
  }

  it('without --metrics-listen has no TCP listener at all (its socket inodes against /proc/net/tcp and tcp6)', async () => {
    const { child } = await spawnDemo([]);
    expect(await readListeningSockets(child.pid!)).toEqual([]);
  });

  it('with --metrics-listen PORT listens on loopback only, and the check above sees it', async () => {
    const { child, stderr } = await spawnDemo(['--metrics-listen', '0']);
    const port = Number(/url=http:\/\/127\.0\.0\.1:(\d+)\/metrics/.exec(stderr())?.[1]);
    expect(await readListeningSockets(child.pid!)).toEqual([{ inode: expect.any(String), address: '0100007F', port, file: 'tcp' }]);
    const page = await scrapeMetrics(`http://127.0.0.1:${port}/metrics`);
    expect(page.body).toMatch(/^scope_plugins_up\{plugin="demo"\} 1$/m);
  });

  it('a port already taken stops the bin with exit 1 and says why, before any plugin socket appears', async () => {
    const holder = createServer();
    await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise((resolve) => holder.close(resolve)));
    const port = (holder.address() as { port: number }).port;
    const root = await mkdtemp(join(tmpdir(), 'sp-mb-'));
    cleanups.push(() => rm(root, { recursive: true, force: true }));
    const child = spawn(process.execPath, [DEMO_BIN, '--root', root, '--metrics-listen', String(port)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    expect(await new Promise((resolve) => child.on('close', resolve))).toBe(1);
    expect(stderr).toContain(`cannot listen on 127.0.0.1:${port} for --metrics-listen`);
    expect(stderr).toContain('EADDRINUSE');
    expect(existsSync(join(root, 'demo', 'demo.sock'))).toBe(false);
  });

  it('SCOPE_PLUGINS_METRICS_LISTEN sets it too; a bad value is refused with the value shown', async () => {
    const root = await mkdtemp(join(tmpdir(), 'sp-mb-'));
    cleanups.push(() => rm(root, { recursive: true, force: true }));
    const child = spawn(process.execPath, [DEMO_BIN, '--root', root], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, SCOPE_PLUGINS_METRICS_LISTEN: 'nope' } });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    expect(await new Promise((resolve) => child.on('close', resolve))).not.toBe(0);
    expect(stderr).toContain('--metrics-listen must be PORT, HOST:PORT or [IPV6]:PORT');
    expect(stderr).toContain('"nope"');
  });
});
