import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createReport, inspectReport } from '@scope-plugins/core';
import { buildProcessNode, collectHttpStats, isProcessAlive, TLS_TRACER_KEY, TRACER_KEY } from '../src/collect.js';
import { plugin } from '../src/index.js';
import { createHttpStats } from '../src/stats.js';
import type { TracerStatus } from '../src/tracer.js';

const NOW = new Date('2026-11-22T03:00:10.000Z');
const T = NOW.toISOString();
const latest = (value: string) => ({ timestamp: T, value });
const sample = (value: number) => ({ samples: [{ date: T, value }], min: 0, max: Math.max(1, value) });

function fed() {
  const stats = createHttpStats({ rateWindowMs: 5000 });
  stats.markStarted(new Date(NOW.getTime() - 10_000));
  stats.add({ kind: 'requests', entries: [{ pid: 42, method: 'GET', count: 40 }, { pid: 42, method: 'POST', count: 10 }, { pid: 43, method: 'GET', count: 1 }] }, new Date(NOW.getTime() - 1000));
  stats.add({ kind: 'responses', entries: [{ pid: 42, status: 202, count: 30 }, { pid: 42, status: 503, count: 20 }, { pid: 43, status: 200, count: 1 }] }, new Date(NOW.getTime() - 1000));
  stats.add({ kind: 'latency', entries: [{ pid: 42, bucketUs: 256, count: 50 }] }, new Date(NOW.getTime() - 1000));
  return stats;
}

const dirs: string[] = [];
afterEach(async () => {
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
});

describe('buildProcessNode', () => {
  it("builds the original's metrics with the right codes, plus totals, latency and tables", () => {
    const report = createReport(NOW);
    buildProcessNode(report, 'h', fed().snapshot(42, NOW)!);
    expect(report.build()).toEqual({
      Process: {
        nodes: {
          'h;42': {
            id: 'h;42',
            topology: 'process',
            metrics: { http_requests_per_second: sample(10), http_202_responses_per_second: sample(6), http_503_responses_per_second: sample(4) },
            latest: {
              http_stats_requests_total: latest('50'),
              http_stats_responses_total: latest('50'),
              http_stats_latency_samples: latest('50'),
              http_stats_latency_p50_ms: latest('0.272'),
              http_stats_latency_p99_ms: latest('0.288'),
              http_stats_method_GET___method: latest('GET'),
              http_stats_method_GET___total: latest('40'),
              http_stats_method_GET___rate: latest('8'),
              http_stats_method_POST___method: latest('POST'),
              http_stats_method_POST___total: latest('10'),
              http_stats_method_POST___rate: latest('2'),
              http_stats_status_202___status: latest('202 Accepted'),
              http_stats_status_202___total: latest('30'),
              http_stats_status_202___rate: latest('6'),
              http_stats_status_503___status: latest('503 Service Unavailable'),
              http_stats_status_503___total: latest('20'),
              http_stats_status_503___rate: latest('4'),
            },
          },
        },
        metric_templates: {
          http_202_responses_per_second: { id: 'http_202_responses_per_second', label: 'HTTP Resp 202/Second', priority: 0.202 },
          http_503_responses_per_second: { id: 'http_503_responses_per_second', label: 'HTTP Resp 503/Second', priority: 0.503 },
        },
      },
    });
  });
});

describe('collectHttpStats', () => {
  const running: TracerStatus = { state: 'running', pid: 99, starts: 1 };

  it('reports only processes that still exist, forgets the others, and passes the inspector', async () => {
    const procRoot = await mkdtemp(join(tmpdir(), 'hs-proc-'));
    dirs.push(procRoot);
    await mkdir(join(procRoot, '42'));
    const stats = fed();
    const report = createReport(NOW);
    report.topology('Process').templates(plugin.topologies.Process!);
    report.topology('Host').templates(plugin.topologies.Host!);
    await collectHttpStats(report, 'h', NOW, { procRoot, stats, tracerStatus: () => running });
    const built = report.build();
    expect(Object.keys(built.Process!.nodes!)).toEqual(['h;42']);
    expect(built.Host!.nodes!['h;<host>']!.latest![TRACER_KEY]).toEqual(latest('running (bpftrace pid 99)'));
    expect(stats.pids()).toEqual([42]);
    const full = { Plugins: [{ id: 'http-stats', label: 'HTTP Statistics', interfaces: ['reporter' as const], api_version: '1' as const }], ...built };
    expect(inspectReport(full, { pluginId: 'http-stats', hostId: 'h' }).filter((v) => v.kind !== 'note')).toEqual([]);
  });

  it('shows no process nodes while the tracer is not running, and why', async () => {
    const report = createReport(NOW);
    await collectHttpStats(report, 'h', NOW, {
      procRoot: '/proc',
      stats: fed(),
      tracerStatus: () => ({ state: 'waiting', reason: 'TRACEFS_NOT_MOUNTED', starts: 0 }),
      tlsTracerStatuses: () => [{ library: '/lib/libssl.so.3', status: { state: 'waiting', reason: 'TRACEFS_NOT_MOUNTED', starts: 0 } }],
    });
    expect(report.build()).toEqual({
      Host: {
        nodes: {
          'h;<host>': {
            id: 'h;<host>',
            topology: 'host',
            latest: { [TRACER_KEY]: latest('not running: TRACEFS_NOT_MOUNTED'), [TLS_TRACER_KEY]: latest('/lib/libssl.so.3: not running: TRACEFS_NOT_MOUNTED') },
          },
        },
      },
    });
  });
});

describe('isProcessAlive', () => {
  it('looks at the real /proc', async () => {
    expect(await isProcessAlive('/proc', process.pid)).toBe(true);
    expect(await isProcessAlive('/proc', 2 ** 22 + 1)).toBe(false);
  });
});
