import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { latencyBucketRange, parseTracerLine, type TracerEvent } from '../src/parse.js';

// Real bpftrace 0.17 output; origin in fixtures/README.md.
const FIXTURE = readFileSync(new URL('./fixtures/bpftrace-http-stats.jsonl', import.meta.url), 'utf8').split('\n');
const NODE_PID = 20404;
const PYTHON_PID = 20405;

function totals(events: TracerEvent[], pid: number) {
  const methods: Record<string, number> = {};
  const statuses: Record<number, number> = {};
  let timed = 0;
  for (const e of events) {
    if (e.kind === 'requests') for (const x of e.entries) if (x.pid === pid) methods[x.method] = (methods[x.method] ?? 0) + x.count;
    if (e.kind === 'responses') for (const x of e.entries) if (x.pid === pid) statuses[x.status] = (statuses[x.status] ?? 0) + x.count;
    if (e.kind === 'latency') for (const x of e.entries) if (x.pid === pid) timed += x.count;
  }
  return { methods, statuses, timed };
}

describe('parseTracerLine on captured bpftrace output', () => {
  const events = FIXTURE.map(parseTracerLine).filter((e): e is TracerEvent => e !== undefined && e.kind !== 'error');

  it('understands every line', () => {
    const parsed = FIXTURE.map(parseTracerLine).filter((e) => e !== undefined);
    expect(parsed.filter((e) => e.kind === 'error')).toEqual([]);
    expect(parsed.slice(0, 2)).toEqual([{ kind: 'attached', probes: 20 }, { kind: 'ready' }]);
    expect(parsed.map((e) => e.kind).slice(2, 5)).toEqual(['requests', 'responses', 'latency']);
  });

  it("gives the Node server's methods and codes exactly as curl sent them", () => {
    expect(totals(events, NODE_PID)).toEqual({
      methods: { GET: 8, POST: 1, PUT: 1, DELETE: 1, HEAD: 1, OPTIONS: 1, PATCH: 1 },
      statuses: { 200: 7, 201: 2, 202: 2, 404: 1, 500: 1, 503: 1 },
      timed: 14,
    });
  });

  it("gives the Python server's methods and codes exactly as curl sent them", () => {
    expect(totals(events, PYTHON_PID)).toEqual({
      methods: { GET: 38, POST: 1 },
      statuses: { 200: 33, 201: 2, 202: 1, 404: 1, 500: 1, 503: 1 },
      timed: 39,
    });
  });

  it('parses one map line into sorted typed entries', () => {
    expect(parseTracerLine('{"type": "map", "data": {"@resp": {"12,503": 2, "12,202": 1, "7,200": 5}}}')).toEqual({
      kind: 'responses',
      entries: [
        { pid: 7, status: 200, count: 5 },
        { pid: 12, status: 202, count: 1 },
        { pid: 12, status: 503, count: 2 },
      ],
    });
    expect(parseTracerLine('{"type": "map", "data": {"@lat": {"5,1536": 3}}}')).toEqual({ kind: 'latency', entries: [{ pid: 5, bucketUs: 1536, count: 3 }] });
  });

  it('splits the combined map (one print a second) into requests, responses and latency, checked as the three maps are', () => {
    // As bpftrace 0.17 printed @c0 for bpf/http-stats-x86_64.bt (2026-11-30): keys "<pid>,<kind>,<n>".
    expect(parseTracerLine('{"type": "map", "data": {"@c0": {"12565,1,1": 1, "12566,2,200": 1, "12609,3,384": 1, "12565,2,200": 1, "12565,3,320": 1, "12910,2,404": 6, "12910,1,2": 6}}}')).toEqual({
      kind: 'counts',
      requests: [
        { pid: 12565, method: 'GET', count: 1 },
        { pid: 12910, method: 'POST', count: 6 },
      ],
      responses: [
        { pid: 12565, status: 200, count: 1 },
        { pid: 12566, status: 200, count: 1 },
        { pid: 12910, status: 404, count: 6 },
      ],
      latency: [
        { pid: 12565, bucketUs: 320, count: 1 },
        { pid: 12609, bucketUs: 384, count: 1 },
      ],
    });
    expect(parseTracerLine('{"type": "map", "data": {"@c1": {}}}')).toEqual({ kind: 'counts', requests: [], responses: [], latency: [] });
    expect(parseTracerLine('{"type": "map", "data": {"@c1": {"5,4,1": 1}}}')).toMatchObject({ kind: 'error', message: expect.stringContaining('<1|2|3>') });
    expect(parseTracerLine('{"type": "map", "data": {"@c1": {"5,2,99": 1}}}')).toMatchObject({ kind: 'error', message: expect.stringContaining('out of 100..599') });
  });

  it('reads a timed response (one key: status code and latency bucket) as the response and its latency', () => {
    // Keys as the programs print them since one map update counts a response and its latency: n = code when the
    // response was not timed, (bucket + 1) * 1000 + code when it was; they add up with each other and with kind 3.
    expect(parseTracerLine('{"type": "map", "data": {"@c1": {"7,2,200": 2, "7,2,1200": 3, "7,2,17200": 1, "7,2,17404": 4, "7,3,16": 5, "8,2,385201": 1, "7,1,5": 9}}}')).toEqual({
      kind: 'counts',
      requests: [{ pid: 7, method: 'HEAD', count: 9 }],
      responses: [
        { pid: 7, status: 200, count: 6 },
        { pid: 7, status: 404, count: 4 },
        { pid: 8, status: 201, count: 1 },
      ],
      latency: [
        { pid: 7, bucketUs: 0, count: 3 },
        { pid: 7, bucketUs: 16, count: 10 },
        { pid: 8, bucketUs: 384, count: 1 },
      ],
    });
    expect(parseTracerLine('{"type": "map", "data": {"@c0": {"7,2,16099": 1}}}')).toMatchObject({ kind: 'error', message: expect.stringContaining('out of 100..599') });
    expect(parseTracerLine('{"type": "map", "data": {"@c0": {"7,2,1200": -1}}}')).toMatchObject({ kind: 'error', message: expect.stringContaining('non-negative integer') });
  });

  it("reads the AOT program's responses-with-latency map (status line, latency bucket + 1 or 0)", () => {
    // As bpftrace-aotrt 0.17 printed @rl0 for bpf/http-stats-aot.bt (2026-12-08), plus a line without a code.
    expect(parseTracerLine('{"type": "map", "data": {"@rl0": {"21755,HTTP/1.1 200 ,33": 3087, "21755,HTTP/1.1 200 ,37": 2, "21755,HTTP/1.1 404 ,33": 1, "21755,HTTP/1.1 100 ,0": 1, "21228,HTTP/1.0 200\\r,0": 4, "21228,HTTP/1.1 2,,5": 1}}}')).toEqual({
      kind: 'counts',
      requests: [],
      responses: [
        { pid: 21228, status: 200, count: 4 },
        { pid: 21755, status: 100, count: 1 },
        { pid: 21755, status: 200, count: 3089 },
        { pid: 21755, status: 404, count: 1 },
      ],
      latency: [
        { pid: 21755, bucketUs: 32, count: 3088 },
        { pid: 21755, bucketUs: 36, count: 2 },
      ],
    });
    expect(parseTracerLine('{"type": "map", "data": {"@rl1": {"5,HTTP/1.1 200 ": 1}}}')).toMatchObject({ kind: 'error', message: expect.stringContaining('<status line>') });
  });

  it('reads the code from the status lines the AOT program keys @resp by, skipping lines without one', () => {
    // Lines as bpftrace-aotrt 0.17 printed them for bpf/http-stats-aot.bt (2026-11-30; the second from writes of
    // "HTTP/1.1 " followed by no code, its escapes as bpftrace wrote them).
    expect(parseTracerLine('{"type": "map", "data": {"@resp0": {"8461,HTTP/1.1 404 ": 10, "8461,HTTP/1.1 200 ": 40, "8497,HTTP/1.0 201 ": 40, "8461,HTTP/1.1 200\\r": 2}}}')).toEqual({
      kind: 'responses',
      entries: [
        { pid: 8461, status: 200, count: 42 },
        { pid: 8461, status: 404, count: 10 },
        { pid: 8497, status: 201, count: 40 },
      ],
    });
    expect(parseTracerLine('{"type": "map", "data": {"@resp1": {"9827,HTTP/1.1 \\uffffffff\\ufffffffe12": 1, "9827,HTTP/1.1 2\\"\\\\\\u0001": 1, "9827,HTTP/1.1 20\\r\\n": 1, "9827,HTTP/1.1 200 ": 3}}}')).toEqual({
      kind: 'responses',
      entries: [{ pid: 9827, status: 200, count: 3 }],
    });
  });

  it('reads lost events and ignores blank lines and unknown records', () => {
    expect(parseTracerLine('{"type": "lost_events", "data": {"events": 3}}')).toEqual({ kind: 'lost', events: 3 });
    expect(parseTracerLine('   ')).toBeUndefined();
    expect(parseTracerLine('{"type": "printf", "data": "http-stats alive\\n"}')).toEqual({ kind: 'other', type: 'printf' });
    expect(parseTracerLine('{"type": "time", "data": "12:00:00\\n"}')).toEqual({ kind: 'other', type: 'time' });
    expect(parseTracerLine('{"type": "map", "data": {"@rd": {}}}')).toEqual({ kind: 'other', type: 'map @rd' });
  });

  it('rejects bad lines with a reason and the text', () => {
    const cases: Array<[string, string]> = [
      ['ERROR: something', 'not JSON'],
      ['[1,2]', 'no "type"'],
      ['{"type": "map", "data": {"@req": {"abc": 1}}}', 'not "<pid>,<number>"'],
      ['{"type": "map", "data": {"@req": {"1,42": 1}}}', 'unknown method id 42'],
      ['{"type": "map", "data": {"@resp": {"1,99": 1}}}', 'out of 100..599'],
      ['{"type": "map", "data": {"@resp": {"1,200": -1}}}', 'non-negative integer'],
      ['{"type": "map", "data": {"@req": {}, "@resp": {}}}', 'expected 1'],
      ['{"type": "attached_probes", "data": {}}', 'probe count'],
    ];
    for (const [line, reason] of cases) {
      const parsed = parseTracerLine(line);
      expect(parsed?.kind, line).toBe('error');
      expect(parsed && 'message' in parsed ? parsed.message : '', line).toContain(reason);
      expect(parsed && 'line' in parsed ? parsed.line : '').toBe(line);
    }
  });
});

describe('latencyBucketRange', () => {
  it('matches the 4-significant-bit buckets of the program', () => {
    expect(latencyBucketRange(0)).toEqual({ lowUs: 0, highUs: 1 });
    expect(latencyBucketRange(15)).toEqual({ lowUs: 15, highUs: 16 });
    expect(latencyBucketRange(16)).toEqual({ lowUs: 16, highUs: 18 });
    expect(latencyBucketRange(240)).toEqual({ lowUs: 240, highUs: 256 });
    expect(latencyBucketRange(1536)).toEqual({ lowUs: 1536, highUs: 1664 });
    expect(() => latencyBucketRange(-1)).toThrow(TypeError);
  });
});
