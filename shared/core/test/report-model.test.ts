import { describe, expect, it } from 'vitest';
import {
  containerImageNodeId,
  containerNodeId,
  createMetricWindow,
  createReport,
  definePlugin,
  hostNodeId,
  isRfc3339,
  isValidPluginId,
  pluginIdFromSocketPath,
  processNodeId,
  readHostId,
  createLogger,
} from '../src/index.js';

describe('ids, as Scope derives them', () => {
  it('validates plugin ids with Scope’s rule', () => {
    expect(['iowait', 'host-namespaces', 'a1-b2', 'HTTP'].map(isValidPluginId)).toEqual([true, true, true, true]);
    expect(['a.v2', '-a', 'a-', 'a--b', '', 'a_b', 'a b'].map(isValidPluginId)).toEqual([false, false, false, false, false, false, false]);
  });

  it('derives the plugin id from the socket name like the registry', () => {
    expect(pluginIdFromSocketPath('/r/iowait/iowait.sock')).toBe('iowait');
    expect(pluginIdFromSocketPath('/r/x/a.v2.sock')).toBe('a.v2');
    expect(pluginIdFromSocketPath('/r/whatever/demo.sock')).toBe('demo');
  });

  it('reads the host id from SCOPE_HOSTNAME, else the hostname', () => {
    expect(readHostId({ SCOPE_HOSTNAME: 'h' })).toBe('h');
    expect(readHostId({ SCOPE_HOSTNAME: '' })).toBe(require('node:os').hostname());
    expect(readHostId({})).toBe(require('node:os').hostname());
  });

  it('formats node ids', () => {
    const id = 'a'.repeat(64);
    expect([hostNodeId('h'), containerNodeId(id), processNodeId('h', 42), containerImageNodeId('sha256:abc')]).toEqual(['h;<host>', `${id};<container>`, 'h;42', 'abc;<container_image>']);
    expect(() => containerNodeId('abc')).toThrow(/full 64-hex/);
    expect(() => processNodeId('h', 0)).toThrow(TypeError);
  });
});

describe('report builders', () => {
  it('builds the protocol doc example shape, stamped with one time', () => {
    const report = createReport(new Date('2024-05-01T12:00:00.000Z'));
    report
      .topology('Host')
      .templates({ metadataTemplates: [{ id: 'demo_mode', label: 'Demo mode', from: 'latest', priority: 1 }] })
      .node('h;<host>')
      .latest('demo_mode', 'idle')
      .table('demo_cpu_', { cpu0: { user: 12.5, iowait: undefined } })
      .metric('demo_iowait', 1.25, { min: 0, max: 100 })
      .set('s', ['b', 'a', 'b'])
      .parent('container', 'c;<container>')
      .activeControls(['demo-toggle']);
    const ts = '2024-05-01T12:00:00.000Z';
    expect(report.build()).toEqual({
      Host: {
        metadata_templates: { demo_mode: { id: 'demo_mode', label: 'Demo mode', from: 'latest', priority: 1 } },
        nodes: {
          'h;<host>': {
            id: 'h;<host>',
            topology: 'host',
            latest: {
              demo_mode: { timestamp: ts, value: 'idle' },
              demo_cpu_cpu0___user: { timestamp: ts, value: '12.5' },
              active_controls: { timestamp: ts, value: 'demo-toggle;host_exec' },
            },
            latestControls: { 'demo-toggle': { timestamp: ts, value: { dead: false } }, host_exec: { timestamp: ts, value: { dead: false } } },
            metrics: { demo_iowait: { samples: [{ date: ts, value: 1.25 }], min: 0, max: 100 } },
            sets: { s: ['a', 'b'] },
            parents: { container: ['c;<container>'] },
          },
        },
      },
    });
  });

  it('does not add host_exec to container controls', () => {
    const report = createReport(new Date(0));
    report.topology('Container').node('x;<container>').activeControls(['b', 'a']);
    expect(report.build().Container!.nodes!['x;<container>']!.latest!['active_controls']!.value).toBe('a;b');
  });

  it('refuses unknown topology keys', () => {
    expect(() => createReport().topology('host' as 'Host')).toThrow(/unknown topology key "host"/);
  });
});

describe('metric window', () => {
  it('keeps samples inside the window, de-duplicates equal dates, ignores non-finite values', () => {
    const w = createMetricWindow({ windowMs: 3000 });
    const t = (s: number) => new Date(Date.UTC(2024, 0, 1, 0, 0, s));
    w.push(1, t(0));
    w.push(2, t(1));
    w.push(3, t(1));
    w.push(Number.NaN, t(2));
    w.push(4, t(4));
    expect(w.toMetric(t(4))).toEqual({
      samples: [
        { date: t(1).toISOString(), value: 3 },
        { date: t(4).toISOString(), value: 4 },
      ],
      min: 0,
      max: 100,
    });
    expect(w.toMetric(t(60))).toBeUndefined();
    expect(() => createMetricWindow({ windowMs: 0 })).toThrow(TypeError);
  });
});

describe('RFC 3339 as Go parses it', () => {
  it.each([
    ['2024-01-01T00:00:00Z', true],
    ['2024-01-01T00:00:00.123456789Z', true],
    ['2024-01-01T01:00:00+01:00', true],
    ['2024-01-01 00:00:00', false],
    ['2024-01-01T00:00:00', false],
    ['2024-13-01T00:00:00Z', false],
  ])('%s → %s', (text, ok) => expect(isRfc3339(text)).toBe(ok));
});

describe('definePlugin validation', () => {
  const base = { id: 'x', label: 'X', description: 'd', create: () => ({ collect() {} }) };
  it.each([
    [{ id: 'a.v2' }, /plugin id must match .* got "a.v2"/],
    [{ label: '' }, /label must be a non-empty string/],
    [{ intervalMs: 0 }, /intervalMs must be a positive number, got 0/],
    [{ topologies: { host: {} } }, /unknown topology key "host"/],
    [{ topologies: { Host: { controls: [{ id: 'a;b', human: 'h', icon: 'fa-x', rank: 1 }] } } }, /control id must match/],
  ])('rejects %j', (patch, message) => {
    expect(() => definePlugin({ ...base, ...patch } as Parameters<typeof definePlugin>[0])).toThrow(message);
  });

  it('declares the controller interface only with controls', () => {
    expect(definePlugin(base).controlIds).toEqual([]);
    expect(definePlugin({ ...base, topologies: { Host: { controls: [{ id: 'c', human: 'h', icon: 'fa-x', rank: 1 }] } } }).controlIds).toEqual(['c']);
  });
});

describe('logger', () => {
  it('logs a state once per change and formats fields', () => {
    const lines: string[] = [];
    const log = createLogger({ level: 'info', write: (l) => lines.push(l) }).child({ plugin: 'p' });
    log.transition('docker', 'down', 'warn', 'docker unreachable', { reason: 'ENOENT x' });
    log.transition('docker', 'down', 'warn', 'docker unreachable');
    log.transition('docker', 'up', 'info', 'docker back');
    log.debug('hidden');
    expect(lines.map((l) => l.replace(/^\S+ /, ''))).toEqual(['warn "docker unreachable" plugin=p reason="ENOENT x"', 'info "docker back" plugin=p']);
    expect(() => createLogger({ level: 'loud' as 'info' })).toThrow(/log level must be one of/);
  });
});

describe('backoff', () => {
  it('doubles up to the maximum and resets', async () => {
    const { createBackoff, sleepUnlessAborted } = await import('../src/index.js');
    const b = createBackoff({ initialMs: 500, maxMs: 3000 });
    expect([b.next(), b.next(), b.next(), b.next(), b.next()]).toEqual([500, 1000, 2000, 3000, 3000]);
    b.reset();
    expect(b.next()).toBe(500);
    expect(() => createBackoff({ initialMs: 0, maxMs: 1 })).toThrow('initialMs must be a positive number, got 0');
    const abort = new AbortController();
    const waiting = sleepUnlessAborted(60_000, abort.signal);
    abort.abort();
    await expect(waiting).resolves.toBeUndefined();
  });
});
