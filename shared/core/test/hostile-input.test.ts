import { Agent, request } from 'node:http';
import { connect } from 'node:net';
import { fc, test } from '@fast-check/vitest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { definePlugin, guardReport, hostNodeId, type Report } from '../src/index.js';
import { startTestPlugin, type TestPlugin } from '../src/testing/index.js';

// Property-based hostile input over the real socket: whatever a client sends, the plugin answers (never
// crashes, never a 500), answers JSON on /control and /report, never serves a report the guard would cut,
// and applies a control only when it is valid. CASES per property (default 10,000) are printed.

const CASES = Number(process.env['HOSTILE_CASES'] ?? 10_000);
/** Per property: generous for a busy shared machine; typically a few seconds. */
const TIMEOUT_MS = 240_000;
const HOST = 'h';
const NODE = `${HOST};<host>`;
const CONTROLS = ['flip-on', 'flip-off'];
let plugin: TestPlugin;
/** Controls the handler applied: it must move only when a valid control was answered without an error. */
let applied = 0;
let on = false;
const counts: Record<string, number> = {};
const count = (what: string) => (counts[what] = (counts[what] ?? 0) + 1);

beforeAll(async () => {
  const definition = definePlugin({
    id: 'target',
    label: 'Target',
    description: 'hostile input target',
    intervalMs: 100,
    topologies: { Host: { controls: CONTROLS.map((id) => ({ id, human: id, icon: 'fa-bolt', rank: 1 })) } },
    create: () => ({
      collect({ report, hostId }) {
        report.topology('Host').node(hostNodeId(hostId)).latest('target_on', String(on)).activeControls([on ? 'flip-off' : 'flip-on']);
      },
      control(req) {
        applied++;
        on = req.control === 'flip-on';
        return { value: { on } };
      },
    }),
  });
  plugin = await startTestPlugin(definition, { hostId: HOST, idleAfterMs: 0, logLevel: 'error' });
  await plugin.waitForReport((r) => r.Host?.nodes?.[NODE] !== undefined);
});

afterAll(async () => {
  await plugin?.stop();
  process.stdout.write(`hostile input cases over the real socket: ${Object.entries(counts).map(([k, v]) => `${k} ${v}`).join(', ')}\n`);
});

const agent = new Agent({ keepAlive: true, maxSockets: 1 });

/** One HTTP exchange with node's client (well-formed framing, any body). */
function exchange(method: string, path: string, body?: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath: plugin.socketPath, method, path, agent, headers: { Host: 'plugin', ...(body === undefined ? {} : { 'Content-Type': 'application/json' }) }, timeout: 5000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('no answer within 5 s')));
    req.on('error', reject);
    req.end(body);
  });
}

/** Raw bytes on a fresh connection, half-closed after writing; resolves to everything the server wrote back. */
function raw(bytes: Buffer | string, { halfClose = true, timeoutMs = 5000 } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(plugin.socketPath);
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`connection neither answered nor closed within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.on('connect', () => {
      socket.write(bytes);
      if (halfClose) socket.end();
    });
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks).toString('latin1'));
    });
  });
}

/** Splits raw HTTP/1.1 responses (Content-Length framed, as the plugin always sends). */
function parseResponses(text: string): Array<{ status: number; headers: string; body: string }> {
  const out = [];
  let rest = text;
  while (rest.startsWith('HTTP/1.1 ')) {
    const end = rest.indexOf('\r\n\r\n');
    if (end < 0) break;
    const head = rest.slice(0, end);
    const length = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? 0);
    // 1xx (100 Continue for an Expect header) is an interim response without a body, not the answer.
    if (head.startsWith('HTTP/1.1 1')) {
      rest = rest.slice(end + 4);
      continue;
    }
    out.push({ status: Number(head.slice(9, 12)), headers: head, body: rest.slice(end + 4, end + 4 + length) });
    rest = rest.slice(end + 4 + length);
  }
  return out;
}

function expectJsonObject(body: string): Record<string, unknown> {
  const value = JSON.parse(body) as unknown;
  expect(typeof value === 'object' && value !== null && !Array.isArray(value)).toBe(true);
  return value as Record<string, unknown>;
}

function expectUncut(report: Report): void {
  expect(guardReport(structuredClone(report), { pluginId: 'target', hostId: HOST }).violations).toEqual([]);
}

// Control bodies: mostly near-valid shapes (so the deep checks run), plus arbitrary JSON and text.
const controlName = fc.oneof(fc.constantFrom(...CONTROLS, 'target~flip-on', 'other~flip-off', 'host_exec', ''), fc.string(), fc.string({ unit: 'binary' }));
const nodeId = fc.oneof(fc.constant(NODE), fc.constantFrom('h;<container>', 'x;<host>', ''), fc.string({ unit: 'binary' }));
const controlArgs = fc.oneof(fc.constant(null), fc.constant(undefined), fc.dictionary(fc.string(), fc.string()), fc.jsonValue());
const controlBody = fc.oneof(
  { weight: 5, arbitrary: fc.record({ AppID: fc.oneof(fc.string(), fc.integer()), Control: fc.oneof(controlName, fc.jsonValue()), NodeID: fc.oneof(nodeId, fc.jsonValue()), ControlArgs: controlArgs }, { requiredKeys: [] }).map((o) => JSON.stringify(o)) },
  { weight: 2, arbitrary: fc.jsonValue().map((v) => JSON.stringify(v) ?? 'null') },
  { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 300 }) },
  // Near and past the 64 KiB limit (built, not generated char by char: that would dominate the run time).
  { weight: 1, arbitrary: fc.tuple(fc.integer({ min: 60_000, max: 70_000 }), fc.string({ maxLength: 10 })).map(([n, s]) => JSON.stringify({ Control: 'flip-on', NodeID: NODE, pad: s.repeat(Math.ceil(n / Math.max(1, s.length))).slice(0, n) })) },
);
const query = fc.oneof(fc.constant(''), fc.webQueryParameters().map((q) => `?${q}`), fc.string({ maxLength: 60 }).map((s) => `?${encodeURIComponent(s)}`), fc.constant('?api_version=1&probe_id=x'));

describe('hostile input over the real socket', { timeout: TIMEOUT_MS }, () => {
  test.prop([controlBody, query], { numRuns: CASES })('POST /control: always 200 and a JSON object; a control is applied only when valid, and its shortcut report is uncut', async (body, q) => {
    count('POST /control');
    const before = applied;
    const answer = await exchange('POST', `/control${q}`, body);
    expect(answer.status).toBe(200);
    const json = expectJsonObject(answer.body);
    if ('error' in json) {
      expect(typeof json['error']).toBe('string');
      expect(applied).toBe(before);
    } else {
      // Only a valid request reaches the handler: a known control, active on a node the plugin reports.
      expect(applied).toBe(before + 1);
      const parsed = JSON.parse(body) as { Control: string; NodeID: string };
      expect(CONTROLS).toContain(parsed.Control.replace(/^[^~]*~/, ''));
      expect(parsed.NodeID).toBe(NODE);
      if (json['shortcutReport']) expectUncut(json['shortcutReport'] as Report);
    }
  });

  // Header names and values as a hostile client might send them, framing kept (CRLF only at line ends).
  const headerName = fc.oneof(fc.constantFrom('Host', 'Content-Length', 'Transfer-Encoding', 'Connection', 'Expect', 'Accept-Encoding', 'X-A'), fc.string({ minLength: 1, maxLength: 20 }).filter((s) => !/[\r\n]/.test(s)));
  const headerValue = fc.oneof(fc.constantFrom('0', '-1', '99999999999', 'chunked', 'close', 'keep-alive', '100-continue', 'gzip'), fc.string({ maxLength: 100, unit: 'binary' }).filter((s) => !/[\r\n]/.test(s)));
  const headers = fc.array(fc.tuple(headerName, headerValue), { maxLength: 6 });

  test.prop([query, headers], { numRuns: CASES })('GET /report: any query string and headers get an answer (JSON, never a 500), and the report is uncut', async (q, hs) => {
    count('GET /report');
    const head = [`GET /report${q} HTTP/1.1`, ...hs.map(([k, v]) => `${k}: ${v}`), 'Connection: close', '', ''].join('\r\n');
    const responses = parseResponses(await raw(Buffer.from(head, 'latin1')));
    // A header set Node refuses (bad Content-Length, unknown Transfer-Encoding...) may leave the request
    // without an answer only by closing; whatever is answered is JSON.
    for (const response of responses) {
      expect(response.status).not.toBe(500);
      const json = expectJsonObject(response.body);
      if (response.status === 200) expectUncut(json as unknown as Report);
    }
  });

  const method = fc.oneof(fc.constantFrom('GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'OPTIONS', 'PATCH', 'CONNECT', 'TRACE', 'PROPFIND', 'get'), fc.string({ minLength: 1, maxLength: 10 }).filter((s) => !/[\s]/.test(s)));
  const path = fc.oneof(fc.constantFrom('/report', '/control', '/status', '/', '//report', '/report/', '/REPORT', '*', 'http://plugin/report', '/%2e%2e/report'), fc.webPath(), fc.string({ maxLength: 80 }).filter((s) => !/[\s]/.test(s)));

  test.prop([method, path], { numRuns: CASES })('any method on any path: an answer, JSON whenever there is a body, never a 500; the server keeps serving', async (m, p) => {
    count('method x path');
    const responses = parseResponses(await raw(Buffer.from(`${m} ${p} HTTP/1.1\r\nHost: plugin\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`, 'latin1')));
    for (const response of responses) {
      expect(response.status).not.toBe(500);
      if (response.body !== '') expectJsonObject(response.body);
    }
  });

  test.prop([fc.uint8Array({ maxLength: 400 })], { numRuns: CASES })('arbitrary bytes, half-closed: a JSON 400 or a close, never a hang or a crash', async (bytes) => {
    count('raw bytes');
    for (const response of parseResponses(await raw(Buffer.from(bytes)))) {
      expect(response.status).not.toBe(500);
      if (response.body !== '') expectJsonObject(response.body);
    }
  });

  it('the generated controls included valid ones, so "applied only when valid" was exercised both ways', () => {
    expect(applied).toBeGreaterThan(0);
    expect(applied).toBeLessThan(CASES);
  });

  it('a huge body (16 MiB) on /control gets a JSON error and the connection closed; state unchanged', async () => {
    count('huge bodies');
    const before = applied;
    const body = JSON.stringify({ Control: 'flip-on', NodeID: NODE, pad: 'x'.repeat(16 * 1024 * 1024) });
    const answer = await new Promise<string>((resolve) => {
      const socket = connect(plugin.socketPath, () => socket.write(`POST /control HTTP/1.1\r\nHost: plugin\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`));
      let data = '';
      socket.on('data', (d: Buffer) => (data += d.toString()));
      socket.on('error', () => undefined);
      socket.on('close', () => resolve(data));
    });
    const [response] = parseResponses(answer);
    expect(response?.status).toBe(200);
    expect(expectJsonObject(response!.body)['error']).toMatch(/larger than 65536 bytes/);
    expect(applied).toBe(before);
  });

  it('pipelined requests in one write are all answered, in order, each JSON', async () => {
    count('pipelined batches');
    const control = JSON.stringify({ Control: 'nope', NodeID: NODE });
    const batch = [
      'GET /report HTTP/1.1\r\nHost: plugin\r\n\r\n',
      `POST /control HTTP/1.1\r\nHost: plugin\r\nContent-Length: ${control.length}\r\n\r\n${control}`,
      'GET /status HTTP/1.1\r\nHost: plugin\r\n\r\n',
      'GET /nope HTTP/1.1\r\nHost: plugin\r\n\r\n',
      'GET /report?probe_id=p HTTP/1.1\r\nHost: plugin\r\nConnection: close\r\n\r\n',
    ].join('');
    const responses = parseResponses(await raw(batch, { halfClose: false }));
    expect(responses.map((r) => r.status)).toEqual([200, 200, 200, 404, 200]);
    for (const r of responses) expectJsonObject(r.body);
    expect(expectJsonObject(responses[1]!.body)['error']).toMatch(/unknown control "nope"/);
  });

  it('half-open connections (nothing sent, or headers cut short) do not stop a fresh /report', async () => {
    count('half-open sets');
    const held = await Promise.all(
      Array.from({ length: 50 }, (_, i) => new Promise<ReturnType<typeof connect>>((resolve) => {
        const s = connect(plugin.socketPath, () => {
          if (i % 2 === 0) s.write('GET /report HTTP/1.1\r\nHost: plu');
          resolve(s);
        });
        s.on('error', () => undefined);
      })),
    );
    try {
      const answer = await exchange('GET', '/report');
      expect(answer.status).toBe(200);
      expectUncut(expectJsonObject(answer.body) as unknown as Report);
    } finally {
      for (const s of held) s.destroy();
    }
  });
});
