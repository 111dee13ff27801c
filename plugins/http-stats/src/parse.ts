/**
 * Pure parsers for the JSON stream of `bpftrace -f json bpf/http-stats.bt`: one JSON object per line.
 * The programs print one map once a second (`@c0`/`@c1`, keys `"<pid>,<kind>,<n>"`: kind 1 request by method id,
 * 2 response, 3 latency bucket), given as one `counts` event. A kind-2 key is one response: `n` is its status code
 * (100..599) when it was not timed, and `(bucket + 1) * 1000 + code` when it was (the response and its latency in one
 * map update, kernel side); kind 3 (a latency alone) is what programs before that printed, still read. Earlier programs (and the AOT one)
 * print three maps instead (`@req`, `@resp`, `@lat`, each with a generation digit
 * 0 or 1: `@req0`, …; keys `"<pid>,<n>"`), a `printf` line once its probes are attached, and bpftrace
 * adds `attached_probes` (and `lost_events` if any). The AOT program (`bpf/http-stats-aot.bt`) keys responses by the
 * status line's first characters instead of the code (`"<pid>,HTTP/1.1 404"`): the code is read from them here. It
 * prints `@req` and `@rl` (responses with their latency, one map update per response, kernel side: keys
 * `"<pid>,<status line>,<n>"`, n = latency bucket + 1, or 0 when the response was not timed); earlier it printed
 * `@resp` (keys `"<pid>,<status line>"`) and `@lat`, still read.
 */

/** Method ids the bpftrace program uses, by id (see the program's header). */
export const HTTP_METHODS: Readonly<Record<number, string>> = Object.freeze({
  1: 'GET',
  2: 'POST',
  3: 'PUT',
  4: 'DELETE',
  5: 'HEAD',
  6: 'PATCH',
  7: 'OPTIONS',
  8: 'CONNECT',
  9: 'TRACE',
});

/** One `(pid, key) → count` entry of a printed map. */
export interface PidCount {
  pid: number;
  count: number;
}

/** What one line of the tracer's output says. */
export type TracerEvent =
  /** bpftrace attached this many probes: the tracer is running. */
  | { kind: 'attached'; probes: number }
  /** The program's BEGIN line. */
  | { kind: 'ready' }
  /** Requests seen in the last second, per process and method. */
  | { kind: 'requests'; entries: Array<PidCount & { method: string }> }
  /** Responses seen in the last second, per process and status code. */
  | { kind: 'responses'; entries: Array<PidCount & { status: number }> }
  /** Request → response latencies of the last second, per process and bucket (lower bound, µs). */
  | { kind: 'latency'; entries: Array<PidCount & { bucketUs: number }> }
  /** One print of the combined map: the three kinds above at once. */
  | { kind: 'counts'; requests: Array<PidCount & { method: string }>; responses: Array<PidCount & { status: number }>; latency: Array<PidCount & { bucketUs: number }> }
  /** The kernel dropped perf events (the program sends none per request, so this should not happen). */
  | { kind: 'lost'; events: number }
  /** A line that is valid JSON but not one of the above (other bpftrace output types). */
  | { kind: 'other'; type: string };

/** A line that cannot be understood; the text is kept for the log. */
export interface TracerParseError {
  kind: 'error';
  message: string;
  line: string;
}

const MAP_KINDS = { req: 'requests', resp: 'responses', lat: 'latency' } as const;
const MAP_NAME = /^@(req|resp|lat)[01]?$/;
const COUNTS_MAP_NAME = /^@c[01]?$/;
const RESPONSE_LATENCY_MAP_NAME = /^@rl[01]?$/;
/** `<pid>,<status line>,<latency bucket + 1 or 0>`: the status line is everything between the first and the last comma. */
const RESPONSE_LATENCY_KEY = /^(\d+),(.*),(\d+)$/s;
const COUNTS_KEY = /^(\d+),([123]),(\d+)$/;
const COUNTS_KINDS = { 1: 'req', 2: 'resp', 3: 'lat' } as const;

/** The combined map: split by kind into the three maps' shapes, each checked as they are. */
function parseCounts(name: string, body: unknown, line: string): TracerEvent | TracerParseError {
  if (!isRecord(body)) return { kind: 'error', message: `map ${name} is not an object`, line };
  const parts: Record<keyof typeof MAP_KINDS, Record<string, unknown>> = { req: {}, resp: {}, lat: {} };
  for (const [key, value] of Object.entries(body)) {
    const match = COUNTS_KEY.exec(key);
    if (!match) return { kind: 'error', message: `map ${name} has a key that is not "<pid>,<1|2|3>,<number>": ${JSON.stringify(key)}`, line };
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
      return { kind: 'error', message: `map ${name} has a count that is not a non-negative integer at ${JSON.stringify(key)}`, line };
    }
    const [, pid, kind, n] = match as unknown as [string, string, string, string];
    // Several keys can land on one (pid, code) or (pid, bucket): their counts add up.
    const add = (part: Record<string, unknown>, at: string) => {
      part[at] = ((part[at] as number | undefined) ?? 0) + value;
    };
    if (kind === '2' && n.length > 3) {
      // A timed response, (bucket + 1) * 1000 + code: counted as the response (code) and as its latency (bucket).
      const timed = BigInt(n);
      add(parts.resp, `${pid},${timed % 1000n}`);
      add(parts.lat, `${pid},${timed / 1000n - 1n}`);
    } else {
      add(parts[COUNTS_KINDS[Number(kind) as 1 | 2 | 3]], `${pid},${n}`);
    }
  }
  const requests = parseMap(name, 'req', parts.req, line);
  const responses = parseMap(name, 'resp', parts.resp, line);
  const latency = parseMap(name, 'lat', parts.lat, line);
  for (const part of [requests, responses, latency]) if (part.kind === 'error') return part;
  if (requests.kind !== 'requests' || responses.kind !== 'responses' || latency.kind !== 'latency') return { kind: 'error', message: `map ${name} could not be split`, line };
  return { kind: 'counts', requests: requests.entries, responses: responses.entries, latency: latency.entries };
}

/** The AOT program's responses-with-latency map: split into its responses (by status line) and latency. */
function parseResponseLatency(name: string, body: unknown, line: string): TracerEvent | TracerParseError {
  if (!isRecord(body)) return { kind: 'error', message: `map ${name} is not an object`, line };
  const responses: Record<string, unknown> = {};
  const latency: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(body)) {
    const match = RESPONSE_LATENCY_KEY.exec(key);
    if (!match) return { kind: 'error', message: `map ${name} has a key that is not "<pid>,<status line>,<number>": ${JSON.stringify(key)}`, line };
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
      return { kind: 'error', message: `map ${name} has a count that is not a non-negative integer at ${JSON.stringify(key)}`, line };
    }
    const [, pid, statusLine, n] = match as unknown as [string, string, string, string];
    const code = STATUS_LINE_CODE.exec(`${pid},${statusLine}`);
    // As for @resp: a line whose code is not 100..599 was no response (nor is its latency counted).
    if (STATUS_LINE_KEY.test(`${pid},${statusLine}`) && !code) continue;
    const add = (part: Record<string, unknown>, at: string) => {
      part[at] = ((part[at] as number | undefined) ?? 0) + value;
    };
    add(responses, code ? `${pid},${code[2]}` : `${pid},${statusLine}`);
    if (n !== '0') add(latency, `${pid},${BigInt(n) - 1n}`);
  }
  const parsedResponses = parseMap(name, 'resp', responses, line);
  const parsedLatency = parseMap(name, 'lat', latency, line);
  for (const part of [parsedResponses, parsedLatency]) if (part.kind === 'error') return part;
  if (parsedResponses.kind !== 'responses' || parsedLatency.kind !== 'latency') return { kind: 'error', message: `map ${name} could not be split`, line };
  return { kind: 'counts', requests: [], responses: parsedResponses.entries, latency: parsedLatency.entries };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** `<pid>,HTTP/1.x NNN…` (a status line as the AOT program keys it): the code, or "skip" when it is not three digits. */
const STATUS_LINE_KEY = /^(\d+),HTTP\/1\.(.)/s;
const STATUS_LINE_CODE = /^(\d+),HTTP\/1\.\d ([1-5]\d\d)(?:[ \r\n]|$)/;

function parseKey(key: string, kind: keyof typeof MAP_KINDS): [number, number] | 'skip' | undefined {
  if (kind === 'resp' && STATUS_LINE_KEY.test(key)) {
    // The kernel side checked only "HTTP/1.": a line whose code is not 100..599 was no response, as in the
    // other programs (which check the digits in the kernel and never count it).
    const line = STATUS_LINE_CODE.exec(key);
    const pid = Number(STATUS_LINE_KEY.exec(key)![1]);
    if (!Number.isSafeInteger(pid) || pid <= 0) return undefined;
    return line ? [pid, Number(line[2])] : 'skip';
  }
  const match = /^(\d+),(\d+)$/.exec(key);
  if (!match) return undefined;
  const pid = Number(match[1]);
  const second = Number(match[2]);
  return Number.isSafeInteger(pid) && pid > 0 && Number.isSafeInteger(second) ? [pid, second] : undefined;
}

function parseMap(name: string, kind: keyof typeof MAP_KINDS, body: unknown, line: string): TracerEvent | TracerParseError {
  if (!isRecord(body)) return { kind: 'error', message: `map ${name} is not an object`, line };
  const entries: Array<{ pid: number; second: number; count: number }> = [];
  for (const [key, value] of Object.entries(body)) {
    const parsed = parseKey(key, kind);
    if (!parsed) return { kind: 'error', message: `map ${name} has a key that is not "<pid>,<number>": ${JSON.stringify(key)}`, line };
    if (parsed === 'skip') continue;
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
      return { kind: 'error', message: `map ${name} has a count that is not a non-negative integer at ${JSON.stringify(key)}`, line };
    }
    entries.push({ pid: parsed[0], second: parsed[1], count: value });
  }
  const byPid = (a: { pid: number; second: number }, b: { pid: number; second: number }) => a.pid - b.pid || a.second - b.second;
  entries.sort(byPid);
  // Several status lines can give one code ("HTTP/1.1 200 OK", "HTTP/1.1 200\r"): one entry per (pid, key).
  for (let i = entries.length - 1; i > 0; i--) {
    const a = entries[i - 1]!;
    const b = entries[i]!;
    if (a.pid === b.pid && a.second === b.second) {
      a.count += b.count;
      entries.splice(i, 1);
    }
  }
  switch (MAP_KINDS[kind]) {
    case 'requests': {
      const out: Array<PidCount & { method: string }> = [];
      for (const e of entries) {
        const method = HTTP_METHODS[e.second];
        if (!method) return { kind: 'error', message: `map ${name} has an unknown method id ${e.second}`, line };
        out.push({ pid: e.pid, method, count: e.count });
      }
      return { kind: 'requests', entries: out };
    }
    case 'responses': {
      const out: Array<PidCount & { status: number }> = [];
      for (const e of entries) {
        if (e.second < 100 || e.second > 599) return { kind: 'error', message: `map ${name} has a status code out of 100..599: ${e.second}`, line };
        out.push({ pid: e.pid, status: e.second, count: e.count });
      }
      return { kind: 'responses', entries: out };
    }
    case 'latency':
      return { kind: 'latency', entries: entries.map((e) => ({ pid: e.pid, bucketUs: e.second, count: e.count })) };
  }
}

/** Parses one line of `bpftrace -f json` output from the http-stats program. Blank lines give undefined. */
export function parseTracerLine(line: string): TracerEvent | TracerParseError | undefined {
  const text = line.trim();
  if (text === '') return undefined;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    return { kind: 'error', message: `not JSON: ${(error as Error).message}`, line: text };
  }
  if (!isRecord(value) || typeof value['type'] !== 'string') return { kind: 'error', message: 'not a bpftrace JSON record (no "type")', line: text };
  const data = value['data'];
  switch (value['type']) {
    case 'attached_probes': {
      const probes = isRecord(data) ? data['probes'] : undefined;
      if (typeof probes !== 'number') return { kind: 'error', message: 'attached_probes without a probe count', line: text };
      return { kind: 'attached', probes };
    }
    case 'printf':
      return typeof data === 'string' && data.startsWith('http-stats ready') ? { kind: 'ready' } : { kind: 'other', type: 'printf' };
    case 'lost_events': {
      const events = isRecord(data) ? data['events'] : undefined;
      return { kind: 'lost', events: typeof events === 'number' ? events : 0 };
    }
    case 'map': {
      if (!isRecord(data)) return { kind: 'error', message: 'map record without data', line: text };
      const names = Object.keys(data);
      if (names.length !== 1) return { kind: 'error', message: `map record with ${names.length} maps, expected 1`, line: text };
      const name = names[0]!;
      if (COUNTS_MAP_NAME.test(name)) return parseCounts(name, data[name], text);
      if (RESPONSE_LATENCY_MAP_NAME.test(name)) return parseResponseLatency(name, data[name], text);
      const known = MAP_NAME.exec(name);
      if (!known) return { kind: 'other', type: `map ${name}` };
      return parseMap(name, known[1] as keyof typeof MAP_KINDS, data[name], text);
    }
    default:
      return { kind: 'other', type: value['type'] };
  }
}

/**
 * The range a latency bucket key covers, in microseconds: the program keeps the 4 most significant
 * bits, so a key `lb` with its top bit at position `b` covers `[lb, lb + 2^(b-3))` (width 1 below 16 µs).
 */
export function latencyBucketRange(bucketUs: number): { lowUs: number; highUs: number } {
  if (!Number.isFinite(bucketUs) || bucketUs < 0) throw new TypeError(`bucketUs must be a non-negative number, got ${bucketUs}`);
  if (bucketUs < 16) return { lowUs: bucketUs, highUs: bucketUs + 1 };
  const topBit = Math.floor(Math.log2(bucketUs));
  return { lowUs: bucketUs, highUs: bucketUs + 2 ** (topBit - 3) };
}
