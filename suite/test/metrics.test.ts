/**
 * The suite's `--metrics-listen` end to end: one real process with all four plugins, a real HTTP server under load,
 * real containers on an isolated dockerd; the page is scraped over TCP, parsed with the Prometheus project's own
 * parsers and checked against the Scope reports served at the same moment (the same collection).
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { parser as promqlParser } from '@prometheus-io/lezer-promql';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { hostNodeId, pluginSocketPath, processNodeId, type Report } from '@scope-plugins/core';
import { hasExpositionParser, parseExposition, pollReport, requireComponent, scrapeMetrics, type ParsedFamily } from '@scope-plugins/core/testing';
import { isDockerdInstalled, startTestDockerd, type TestDockerd } from '@scope-plugins/docker/testing';
import { BPF_PROGRAM_PATH, checkTracerPrerequisites } from '@scope-plugins/http-stats';

const CLI = new URL('../dist/cli.js', import.meta.url).pathname;
const DASHBOARD = new URL('../../deploy/grafana/scope-plugins.json', import.meta.url).pathname;
const IMAGE = 'scope-plugins-test/busybox:latest';
const HOST = 'metrics-host';
const PLUGINS = ['host-namespaces', 'http-stats', 'iowait', 'volume-count'] as const;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

// A server whose status comes from the path (/status/404), so the load decides the codes.
const SERVER = `
const http = require('node:http');
const server = http.createServer((req, res) => {
  const m = /^\\/status\\/(\\d{3})/.exec(req.url);
  req.resume();
  req.on('end', () => { res.writeHead(m ? Number(m[1]) : 200, { 'content-type': 'text/plain' }); res.end('ok'); });
});
server.listen(0, '127.0.0.1', () => console.log('listening ' + server.address().port));
`;
const LOAD = [
  { method: 'GET', path: '/status/200', count: 30 },
  { method: 'POST', path: '/status/201', count: 6 },
  { method: 'GET', path: '/status/404', count: 4 },
  { method: 'GET', path: '/status/503', count: 2 },
] as const;

type Sample = ParsedFamily['samples'][number];

function samples(families: ParsedFamily[], name: string, labels: Record<string, string> = {}): Sample[] {
  return families.flatMap((f) => f.samples).filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
}
function one(families: ParsedFamily[], name: string, labels: Record<string, string> = {}): number {
  const found = samples(families, name, labels);
  if (found.length !== 1) throw new Error(`expected one ${name}${JSON.stringify(labels)}, found ${found.length}`);
  return found[0]!.value;
}
function hasCommand(command: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' });
    return true;
  } catch {
    // Not found is the answer, not an error.
    return false;
  }
}
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
  });
}
const sum = (list: Sample[]) => list.reduce((a, s) => a + s.value, 0);
function latest(report: Report, topology: 'Host' | 'Container' | 'Process', node: string, key: string): string | undefined {
  return report[topology]?.nodes?.[node]?.latest?.[key]?.value;
}

const tracer = await checkTracerPrerequisites({ bpftrace: 'bpftrace', programPath: BPF_PROGRAM_PATH });
const components = [
  ['the Prometheus exposition parser (client_python)', hasExpositionParser(), 'apt-get install python3-prometheus-client (scripts/provision.sh does it)'],
  ['dockerd', isDockerdInstalled(), 'run scripts/provision.sh'],
  ['bpftrace with tracefs (http-stats)', tracer.ok, tracer.ok ? '' : tracer.problem.message],
] as const;
const haveAll = components.every(([, available]) => available);

describe('scope-plugins run --metrics-listen', () => {
  beforeEach((ctx) => {
    for (const [name, available, howToGet] of components) requireComponent(ctx, name, available, howToGet);
  });

  let dockerd: TestDockerd;
  let root: string;
  let suite: ChildProcess;
  let server: ChildProcess;
  let serverPort = 0;
  let url = '';
  let stderr = '';
  const ids: Record<string, string> = {};

  const reports = async (): Promise<Record<(typeof PLUGINS)[number], Report>> => {
    const out: Partial<Record<(typeof PLUGINS)[number], Report>> = {};
    for (const id of PLUGINS) {
      const poll = await pollReport(pluginSocketPath(root, id), undefined, 2000);
      if (!poll.ok) throw new Error(`poll ${id}: ${poll.error}`);
      out[id] = JSON.parse(poll.body) as Report;
    }
    return out as Record<(typeof PLUGINS)[number], Report>;
  };
  const page = async () => parseExposition((await scrapeMetrics(url)).body, 'prometheus');

  beforeAll(async () => {
    if (!haveAll) return;
    dockerd = await startTestDockerd({ images: [IMAGE] });
    root = await mkdtemp(join(tmpdir(), 'sp-metrics-'));
    const bind = await mkdtemp(join(tmpdir(), 'sp-metrics-bind-'));
    ids['mounts'] = await dockerd.docker(['run', '-d', '--name', 'm-mounts', '-v', '/data', '-v', `${bind}:/b`, '--tmpfs', '/t', IMAGE]);
    ids['hostnet'] = await dockerd.docker(['run', '-d', '--name', 'm-hostnet', '--network', 'host', '--pid', 'host', IMAGE]);
    ids['stopped'] = await dockerd.docker(['create', '--name', 'm-stopped', '-v', '/x', IMAGE]);

    server = spawn(process.execPath, ['-e', SERVER], { stdio: ['ignore', 'pipe', 'inherit'] });
    serverPort = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('test server did not listen')), 10_000);
      createInterface({ input: server.stdout! }).on('line', (line) => {
        const m = /^listening (\d+)$/.exec(line);
        if (m) {
          clearTimeout(timer);
          resolve(Number(m[1]));
        }
      });
    });

    suite = spawn(process.execPath, [CLI, 'run', '--root', root, '--log-level', 'info', '--metrics-listen', '0', '--docker-host', dockerd.dockerHost, '--http-stats.tls-libraries', 'none'], {
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { ...process.env, SCOPE_HOSTNAME: HOST },
    });
    suite.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    for (let i = 0; i < 200 && !url; i++) {
      url = /url=(http:\/\/127\.0\.0\.1:\d+\/metrics)/.exec(stderr)?.[1] ?? '';
      await sleep(50);
    }
    expect(url, stderr).not.toBe('');
    // Every plugin up (the tracer attached, Docker synced) before the load, so every request is counted.
    for (let i = 0; i < 300; i++) {
      const families = await page().catch(() => [] as ParsedFamily[]);
      const up = PLUGINS.map((id) => samples(families, 'scope_plugins_up', { plugin: id })[0]?.value);
      const r = await reports().catch(() => undefined);
      const tracing = r && latest(r['http-stats'], 'Host', hostNodeId(HOST), 'http_stats_tracer')?.startsWith('running');
      const containers = r && Object.keys(r['volume-count'].Container?.nodes ?? {}).length === 3;
      if (up.every((v) => v === 1) && tracing && containers) break;
      await sleep(100);
    }
    for (const step of LOAD) {
      for (let i = 0; i < step.count; i++) {
        const response = await fetch(`http://127.0.0.1:${serverPort}${step.path}`, { method: step.method, body: step.method === 'POST' ? 'x' : undefined, signal: AbortSignal.timeout(5000) });
        await response.text();
      }
    }
    const total = LOAD.reduce((a, s) => a + s.count, 0);
    for (let i = 0; i < 200; i++) {
      const families = await page();
      if (sum(samples(families, 'scope_http_stats_responses_total', { pid: String(server.pid) })) >= total) break;
      await sleep(100);
    }
  }, 120_000);

  afterAll(async () => {
    if (suite && suite.exitCode === null) {
      const closed = new Promise((resolve) => suite.on('close', resolve));
      suite.kill('SIGTERM');
      await closed;
    }
    if (server && server.exitCode === null) server.kill('SIGKILL');
    await dockerd?.dispose();
    if (root) await rm(root, { recursive: true, force: true });
  }, 60_000);

  it('the page agrees with the Scope reports of the same collection, plugin by plugin', async () => {
    // The plugins keep collecting: retry until no plugin collected between the two scrapes around the reports.
    let families: ParsedFamily[] = [];
    let r: Awaited<ReturnType<typeof reports>> | undefined;
    for (let attempt = 0; attempt < 40; attempt++) {
      const before = await page();
      r = await reports();
      families = await page();
      const same = PLUGINS.every((id) => one(before, 'scope_plugins_collections_total', { plugin: id }) === one(families, 'scope_plugins_collections_total', { plugin: id }));
      if (same) break;
      r = undefined;
    }
    expect(r, 'no quiet moment between two scrapes in 40 attempts').toBeDefined();
    const reportsNow = r!;
    const host = hostNodeId(HOST);

    // Health: every plugin up, no errors, no dropped samples.
    for (const id of PLUGINS) {
      expect([id, one(families, 'scope_plugins_up', { plugin: id }), one(families, 'scope_plugins_metric_samples_dropped_total', { plugin: id })]).toEqual([id, 1, 0]);
      expect(one(families, 'scope_plugins_last_success_timestamp_seconds', { plugin: id })).toBeGreaterThan(Date.now() / 1000 - 60);
    }

    // iowait: the ratios are the report's percentages; the disks are the table's rows.
    const iowait = reportsNow.iowait;
    expect(one(families, 'scope_iowait_cpu_iowait_ratio') * 100).toBeCloseTo(Number(latest(iowait, 'Host', host, 'iowait_iowait_percent')), 2);
    expect(one(families, 'scope_iowait_cpu_idle_ratio') * 100).toBeCloseTo(Number(latest(iowait, 'Host', host, 'iowait_idle_percent')), 2);
    const psiSome = latest(iowait, 'Host', host, 'iowait_psi_some_avg10');
    if (psiSome !== undefined) expect(one(families, 'scope_iowait_pressure_ratio', { kind: 'some', window: '10s' }) * 100).toBeCloseTo(Number(psiSome), 2);
    const hostLatest = iowait.Host?.nodes?.[host]?.latest ?? {};
    const devices = Object.entries(hostLatest).filter(([k]) => k.startsWith('iowait_disk_') && k.endsWith('___device')).map(([k, v]) => [k.slice(0, -'device'.length), v.value] as const);
    expect(devices.length).toBeGreaterThan(0);
    expect(samples(families, 'scope_iowait_disk_utilization_ratio').map((s) => s.labels['device']).sort()).toEqual(devices.map(([, d]) => d).sort());
    for (const [prefix, device] of devices) {
      expect(one(families, 'scope_iowait_disk_reads_per_second', { device })).toBeCloseTo(Number(hostLatest[`${prefix}reads_per_sec`]?.value), 1);
      expect(one(families, 'scope_iowait_disk_writes_per_second', { device })).toBeCloseTo(Number(hostLatest[`${prefix}writes_per_sec`]?.value), 1);
      expect(one(families, 'scope_iowait_disk_utilization_ratio', { device }) * 100).toBeCloseTo(Number(hostLatest[`${prefix}util_percent`]?.value), 1);
      expect(one(families, 'scope_iowait_disk_await_seconds', { device }) * 1000).toBeCloseTo(Number(hostLatest[`${prefix}avg_wait_ms`]?.value), 2);
    }

    // host-namespaces: the per-type counts add up to the report's total; sharing matches the container nodes.
    const ns = reportsNow['host-namespaces'];
    expect(sum(samples(families, 'scope_host_namespaces_namespaces'))).toBe(Number(latest(ns, 'Host', host, 'host-namespaces_total')));
    const sharedLists = Object.values(ns.Container?.nodes ?? {}).map((n) => n.latest?.['host-namespaces_shared_with_host']?.value ?? '');
    expect(sharedLists.length).toBe(2);
    for (const type of ['net', 'pid', 'ipc', 'uts', 'cgroup', 'user']) {
      expect([type, one(families, 'scope_host_namespaces_containers_sharing_host', { type })]).toEqual([type, sharedLists.filter((l) => l.split(', ').includes(type)).length]);
    }
    expect(one(families, 'scope_host_namespaces_containers_sharing_host', { type: 'net' })).toBe(1);
    expect(one(families, 'scope_host_namespaces_processes', { type: 'pid', namespace: 'host' })).toBeGreaterThan(0);

    // volume-count: one series per container and type, equal to the container node's counts.
    const vc = reportsNow['volume-count'];
    const nodes = Object.entries(vc.Container?.nodes ?? {});
    expect(one(families, 'scope_volume_count_containers')).toBe(nodes.length);
    for (const [nodeId, node] of nodes) {
      const id = nodeId.split(';')[0]!;
      for (const [type, key] of [['volume', 'volume_count_volumes'], ['bind', 'volume_count_binds'], ['tmpfs', 'volume_count_tmpfs']] as const) {
        expect([id.slice(0, 12), type, one(families, 'scope_volume_count_mounts', { container_id: id, type })]).toEqual([id.slice(0, 12), type, Number(node.latest?.[key]?.value)]);
      }
    }
    expect(one(families, 'scope_volume_count_mounts', { container_id: ids['mounts']!, container_name: 'm-mounts', type: 'bind' })).toBe(1);
    expect(one(families, 'scope_volume_count_mounts', { container_id: ids['mounts']!, type: 'tmpfs' })).toBe(1);

    // http-stats: the server's counters equal the report's totals and tables, and the load that was sent.
    const http = reportsNow['http-stats'];
    const pid = String(server.pid);
    const node = processNodeId(HOST, server.pid!);
    const reqs = samples(families, 'scope_http_stats_requests_total', { pid });
    const resps = samples(families, 'scope_http_stats_responses_total', { pid });
    expect(new Set([...reqs, ...resps].map((s) => s.labels['command']))).toEqual(new Set(['node']));
    expect(sum(reqs)).toBe(Number(latest(http, 'Process', node, 'http_stats_requests_total')));
    expect(sum(resps)).toBe(Number(latest(http, 'Process', node, 'http_stats_responses_total')));
    expect(Object.fromEntries(reqs.map((s) => [s.labels['method'], s.value]))).toEqual({ GET: 36, POST: 6 });
    expect(Object.fromEntries(resps.map((s) => [s.labels['code'], s.value]))).toEqual({ '200': 30, '201': 6, '404': 4, '503': 2 });
    for (const s of reqs) expect(s.value).toBe(Number(latest(http, 'Process', node, `http_stats_method_${s.labels['method']}___total`)));
    for (const s of resps) expect(s.value).toBe(Number(latest(http, 'Process', node, `http_stats_status_${s.labels['code']}___total`)));
    expect(one(families, 'scope_http_stats_request_duration_seconds_count', { pid })).toBe(Number(latest(http, 'Process', node, 'http_stats_latency_samples')));
    expect(one(families, 'scope_http_stats_request_duration_seconds_bucket', { pid, le: '+Inf' })).toBe(42);
    expect(one(families, 'scope_http_stats_request_duration_seconds_sum', { pid })).toBeGreaterThan(0);
  });

  it('OpenMetrics, when asked, passes the strict reference parser with the same families', async () => {
    const om = await scrapeMetrics(url, 'application/openmetrics-text; version=1.0.0');
    expect(om.contentType).toMatch(/^application\/openmetrics-text; version=1\.0\.0/);
    const omFamilies = await parseExposition(om.body, 'openmetrics');
    const text = await page();
    expect(omFamilies.map((f) => f.name).sort()).toEqual(text.map((f) => f.name).sort());
    for (const f of omFamilies) expect(f.help, f.name).not.toBe('');
  });

  it('a real Prometheus scrapes the endpoint (OpenMetrics, as it asks) and every dashboard expression returns series; promtool lints the page clean', async (ctx) => {
    requireComponent(ctx, 'Prometheus and promtool', hasCommand('prometheus') && hasCommand('promtool'), 'apt-get install prometheus (scripts/provision.sh does it)');
    const lint = await new Promise<{ code: number | null; output: string }>((resolve) => {
      const child = spawn('promtool', ['check', 'metrics'], { stdio: ['pipe', 'pipe', 'pipe'] });
      let output = '';
      child.stdout.on('data', (d: Buffer) => (output += d.toString()));
      child.stderr.on('data', (d: Buffer) => (output += d.toString()));
      child.on('close', (code) => resolve({ code, output }));
      void scrapeMetrics(url).then((p) => child.stdin.end(p.body));
    });
    expect(lint).toEqual({ code: 0, output: '' });

    const dir = await mkdtemp(join(tmpdir(), 'sp-prom-'));
    const port = await freePort();
    const target = new URL(url).host;
    await writeFile(join(dir, 'prometheus.yml'), JSON.stringify({ global: { scrape_interval: '1s', scrape_timeout: '1s' }, scrape_configs: [{ job_name: 'scope-plugins', static_configs: [{ targets: [target] }] }] }));
    const prometheus = spawn('prometheus', [`--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`], { stdio: 'ignore' });
    const query = async (promql: string) => {
      const response = await fetch(`http://127.0.0.1:${port}/api/v1/query?query=${encodeURIComponent(promql)}`, { signal: AbortSignal.timeout(5000) });
      return (await response.json()) as { status: string; data?: { result: unknown[] }; error?: string };
    };
    try {
      // Wait for a few successful scrapes, so rate() has points to work with.
      let scrapes = 0;
      for (let i = 0; i < 300 && scrapes < 4; i++) {
        await sleep(200);
        const answer = await query('count_over_time(up{job="scope-plugins"}[1m])').catch(() => undefined);
        const value = (answer?.data?.result[0] as { value?: [number, string] } | undefined)?.value?.[1];
        scrapes = Number(value ?? 0);
      }
      expect(scrapes).toBeGreaterThanOrEqual(4);
      expect((await query('min(up{job="scope-plugins"})')).data?.result).toEqual([expect.objectContaining({ value: [expect.any(Number), '1'] })]);
      const dashboard = JSON.parse(await readFile(DASHBOARD, 'utf8')) as { panels: Array<{ targets?: Array<{ expr: string }> }> };
      const empty: string[] = [];
      for (const expr of dashboard.panels.flatMap((p) => p.targets ?? []).map((t) => t.expr)) {
        const answer = await query(expr.replaceAll('$__rate_interval', '1m').replaceAll('$instance', '.*'));
        expect([expr, answer.status, answer.error]).toEqual([expr, 'success', undefined]);
        if ((answer.data?.result.length ?? 0) === 0) empty.push(expr);
      }
      expect(empty).toEqual([]);
    } finally {
      const closed = new Promise((resolve) => prometheus.on('close', resolve));
      prometheus.kill('SIGTERM');
      await closed;
      await rm(dir, { recursive: true, force: true });
    }
  }, 90_000);

  it('every metric name in the Grafana dashboard exists, with samples, in the real scrape (and every expression parses as PromQL)', async () => {
    const dashboard = JSON.parse(await readFile(DASHBOARD, 'utf8')) as { panels: Array<{ targets?: Array<{ expr: string }> }> };
    const exprs = dashboard.panels.flatMap((p) => p.targets ?? []).map((t) => t.expr);
    expect(exprs.length).toBeGreaterThan(20);
    const scraped = new Set((await page()).flatMap((f) => f.samples.map((s) => s.name)));
    const used = new Set<string>();
    for (const expr of exprs) {
      // Grafana's own variables are not PromQL: give them the values Grafana would.
      const promql = expr.replaceAll('$__rate_interval', '1m').replaceAll('$instance', '.*');
      const tree = promqlParser.parse(promql);
      const errors: string[] = [];
      tree.iterate({
        enter(node) {
          if (node.type.isError) errors.push(promql.slice(node.from, node.to + 10));
          if (node.name === 'VectorSelector') {
            const identifier = node.node.getChild('Identifier');
            if (identifier) used.add(promql.slice(identifier.from, identifier.to));
          }
        },
      });
      expect(errors, promql).toEqual([]);
    }
    expect([...used].filter((name) => !scraped.has(name))).toEqual([]);
    // And the dashboard covers every plugin's families plus the health ones.
    for (const prefix of ['scope_plugins_', 'scope_iowait_', 'scope_host_namespaces_', 'scope_volume_count_', 'scope_http_stats_']) {
      expect([...used].some((name) => name.startsWith(prefix)), prefix).toBe(true);
    }
  });
  it('a removed container and an exited server take their series with them (last: it changes the scene)', async () => {
    await dockerd.docker(['rm', '-f', ids['mounts']!]);
    const closed = new Promise((resolve) => server.once('close', resolve));
    server.kill('SIGKILL');
    await closed;
    let families: ParsedFamily[] = [];
    for (let i = 0; i < 100; i++) {
      families = await page();
      const container = samples(families, 'scope_volume_count_mounts', { container_id: ids['mounts']! }).length;
      const process = samples(families, 'scope_http_stats_requests_total', { pid: String(server.pid) }).length;
      if (container === 0 && process === 0) break;
      await sleep(100);
    }
    expect(samples(families, 'scope_volume_count_mounts', { container_id: ids['mounts']! })).toEqual([]);
    expect(samples(families, 'scope_http_stats_requests_total', { pid: String(server.pid) })).toEqual([]);
    expect(samples(families, 'scope_http_stats_request_duration_seconds_count', { pid: String(server.pid) })).toEqual([]);
    expect(one(families, 'scope_volume_count_containers')).toBe(2);
  });

});
