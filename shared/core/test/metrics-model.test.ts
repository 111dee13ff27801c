import { describe, expect, it } from 'vitest';
import { createCounterFolder, createMetricsBatch, defineMetricFamily, isLoopbackHost, negotiateFormat, parseListenAddress, splitTopN, validateMetricFamilies } from '../src/index.js';

const gauge = defineMetricFamily({ name: 'demo_things', help: 'Things', kind: 'gauge', labelNames: ['kind'], maxSeries: 2 });
const counter = defineMetricFamily({ name: 'demo_events_total', help: 'Events', kind: 'counter', labelNames: [], maxSeries: 1 });
const histogram = defineMetricFamily({ name: 'demo_wait_seconds', help: 'Waits', kind: 'histogram', labelNames: [], maxSeries: 1, buckets: [0.1, 1] });

describe('metric family declarations', () => {
  it.each([
    [{ name: 'bad-name', kind: 'gauge' }, /metric name must match/],
    [{ name: 'demo_events', kind: 'counter' }, /must end in _total/],
    [{ name: 'demo_x_total', kind: 'gauge' }, /only counters end in _total/],
    [{ name: 'demo_x_count', kind: 'gauge' }, /collide/],
    [{ name: 'demo_x', kind: 'gauge', labelNames: ['le'] }, /reserved/],
    [{ name: 'demo_x', kind: 'gauge', labelNames: ['a', 'a'] }, /appears twice/],
    [{ name: 'demo_x', kind: 'gauge', maxSeries: 0 }, /maxSeries must be a positive integer, got 0/],
    [{ name: 'demo_x_seconds', kind: 'histogram', buckets: [1, 0.5] }, /strictly ascending/],
    [{ name: 'demo_x', kind: 'gauge', buckets: [1] }, /only histograms/],
    [{ name: 'demo_x', kind: 'gauge', help: ' ' }, /help must be a non-empty string/],
  ])('rejects %j', (overrides, message) => {
    const valid: Record<string, unknown> = { name: 'x', help: 'h', kind: 'gauge', labelNames: [], maxSeries: 1 };
    expect(() => defineMetricFamily({ ...valid, ...overrides } as never)).toThrow(message);
  });

  it('rejects two families with one name (as a registry must)', () => {
    expect(() => validateMetricFamilies('plugin demo', [gauge, { ...gauge }])).toThrow('plugin demo: metric demo_things is declared twice');
  });
});

describe('metrics sink', () => {
  it('keeps what a collection wrote, replaces same-label writes, and refuses bad input without throwing', () => {
    const batch = createMetricsBatch([gauge, counter, histogram]);
    batch.sink.set(gauge, { kind: 'a' }, 1);
    batch.sink.set(gauge, { kind: 'a' }, 2);
    batch.sink.set(gauge, { kind: 'b' }, 3);
    batch.sink.set(gauge, { kind: 'c' }, 4); // over maxSeries 2
    batch.sink.set(gauge, {} as never, 5); // missing label
    batch.sink.set(counter, {}, -1); // a counter cannot be negative
    batch.sink.set(gauge, { kind: 'a' }, Number.NaN);
    batch.sink.set(defineMetricFamily({ ...counter }), {}, 1); // not the declared object
    batch.sink.setHistogram(histogram, {}, { counts: [1, 2], sum: 1 }); // needs 3 counts
    batch.sink.setHistogram(histogram, {}, { counts: [1, 2, 3], sum: 4.5 });
    const series = batch.snapshot().series;
    expect([...series.get('demo_things')!.values()]).toEqual([
      { labelValues: ['a'], value: 2 },
      { labelValues: ['b'], value: 3 },
    ]);
    expect([...series.get('demo_wait_seconds')!.values()]).toEqual([{ labelValues: [], value: { counts: [1, 2, 3], sum: 4.5 } }]);
    expect(series.has('demo_events_total')).toBe(false);
    expect(Object.fromEntries(batch.dropped())).toEqual({ 'max-series': 1, labels: 1, value: 3, undeclared: 1 });
  });
});

describe('bounding series', () => {
  it('splitTopN keeps the heaviest, ties broken by key', () => {
    const { kept, rest } = splitTopN(['b', 'a', 'c', 'd'], 2, (x) => (x === 'd' ? 5 : 1), (x) => x);
    expect({ kept, rest }).toEqual({ kept: ['d', 'a'], rest: ['b', 'c'] });
  });

  it('the counter folder keeps every exported series monotonic while slots change hands', () => {
    const folder = createCounterFolder(1);
    const v = (n: number) => new Map([['req', n]]);
    const get = (f: ReturnType<typeof folder.update>) => ({
      slotted: Object.fromEntries(f.slotted.map((s) => [s.key, s.totals.get('req')])),
      other: f.other?.get('req'),
    });
    // a gets the only slot; b is folded into other.
    expect(get(folder.update([{ key: 'a', totals: v(10), weight: 10 }, { key: 'b', totals: v(3), weight: 3 }]))).toEqual({ slotted: { a: 10 }, other: 3 });
    expect(get(folder.update([{ key: 'a', totals: v(12), weight: 12 }, { key: 'b', totals: v(5), weight: 5 }, { key: 'c', totals: v(1), weight: 1 }]))).toEqual({
      slotted: { a: 12 },
      other: 6,
    });
    // a exits: its series goes; b (busiest) takes the slot and counts from here; other keeps b's past and c.
    expect(get(folder.update([{ key: 'b', totals: v(9), weight: 9 }, { key: 'c', totals: v(2), weight: 2 }]))).toEqual({ slotted: { b: 4 }, other: 7 });
    // c exits: other keeps its counts (never goes down).
    expect(get(folder.update([{ key: 'b', totals: v(11), weight: 11 }]))).toEqual({ slotted: { b: 6 }, other: 7 });
    // b restarts (pid reuse: totals went backwards): a new series from 0, other unchanged.
    expect(get(folder.update([{ key: 'b', totals: v(1), weight: 1 }]))).toEqual({ slotted: { b: 1 }, other: 7 });
  });

  it('no other series until something is folded', () => {
    const folder = createCounterFolder(5);
    expect(folder.update([{ key: 'a', totals: new Map([['x', 1]]), weight: 1 }]).other).toBeUndefined();
  });
});

describe('--metrics-listen', () => {
  it.each([
    ['9464', { host: '127.0.0.1', port: 9464, loopback: true }],
    ['0', { host: '127.0.0.1', port: 0, loopback: true }],
    ['127.0.0.2:9464', { host: '127.0.0.2', port: 9464, loopback: true }],
    ['localhost:80', { host: 'localhost', port: 80, loopback: true }],
    ['0.0.0.0:9464', { host: '0.0.0.0', port: 9464, loopback: false }],
    [':9464', { host: '0.0.0.0', port: 9464, loopback: false }],
    ['[::1]:9464', { host: '::1', port: 9464, loopback: true }],
    ['[::]:9464', { host: '::', port: 9464, loopback: false }],
  ])('%s', (text, expected) => {
    expect(parseListenAddress(text)).toEqual(expected);
  });

  it.each(['', 'abc', '70000', '1.2.3.4', '::1:80', 'host:port', 'a b:1'])('rejects %j with a TypeError showing it', (text) => {
    expect(() => parseListenAddress(text)).toThrow(TypeError);
    expect(() => parseListenAddress(text)).toThrow(JSON.stringify(text).slice(1, -1) || '--metrics-listen');
  });

  it('loopback hosts', () => {
    expect([isLoopbackHost('127.255.0.1'), isLoopbackHost('::1'), isLoopbackHost('10.0.0.1'), isLoopbackHost('::')]).toEqual([true, true, false, false]);
  });
});

describe('content negotiation', () => {
  it.each([
    [undefined, 'prometheus'],
    ['*/*', 'prometheus'],
    ['text/plain;version=0.0.4', 'prometheus'],
    ['application/openmetrics-text; version=1.0.0', 'openmetrics'],
    // What Prometheus 2.x sends by default.
    ['application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1', 'openmetrics'],
    ['text/plain;q=1,application/openmetrics-text;q=0.5', 'prometheus'],
    ['application/openmetrics-text;q=0', 'prometheus'],
  ])('%s → %s', (accept, format) => {
    expect(negotiateFormat(accept)).toBe(format);
  });
});
