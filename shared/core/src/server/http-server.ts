import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { describeError } from '../errors.js';
import type { Logger } from '../log.js';
import { markSending } from '../report/served-body.js';
import { parseControlRequest, type ControlRequest } from './control-request.js';

/** Largest control body accepted; the probe's are a few hundred bytes. */
export const MAX_CONTROL_BODY_BYTES = 64 * 1024;

/** What the HTTP layer asks of a running plugin. */
export interface PluginHandlers {
  /** The current report body, already serialized (and encoded): never computed on the request path. */
  report(probeId: string | undefined): string | Buffer;
  /** Runs a control; always resolves to the JSON object to answer with. */
  control(request: ControlRequest): Promise<Record<string, unknown>>;
  /** Health of the plugin, for `GET /status`. */
  status(): Record<string, unknown>;
}

function send(res: ServerResponse, statusCode: number, body: string | Buffer): void {
  // The same Date header Node would send, made here: Node caches its own and clears the cache with a timer
  // at the next second, one more wake-up of the process for every answer (see util/heartbeat.ts).
  res.sendDate = false;
  res.writeHead(statusCode, { Date: new Date().toUTCString(), 'Content-Type': 'application/json', 'Content-Length': typeof body === 'string' ? Buffer.byteLength(body) : body.length });
  // A report buffer may be reused for a later re-stamp once its write finished (report/served-body.ts).
  if (typeof body === 'string') res.end(body);
  else res.end(body, markSending(body));
}

function readBody(req: IncomingMessage, limit: number): Promise<string | { error: string }> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    req.on('data', (chunk: Buffer) => {
      if (done) return;
      size += chunk.length;
      if (size > limit) {
        done = true;
        resolve({ error: `control request body is larger than ${limit} bytes` });
        // Stop reading; the socket is closed after the answer.
        req.pause();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      if (!done) resolve(Buffer.concat(chunks).toString('utf8'));
    });
    req.on('error', (error) => {
      if (!done) resolve({ error: `could not read the request body: ${error.message}` });
    });
  });
}

/** The request target as a URL; origin-form (`/report?x`) is taken as a path even when it starts with `//`. Undefined when it cannot be parsed. */
function parseRequestTarget(target: string | undefined): URL | undefined {
  try {
    return target?.startsWith('/') ? new URL(`http://plugin${target}`) : new URL(target ?? '/', 'http://plugin');
  } catch {
    return undefined;
  }
}

/**
 * Creates the HTTP server a plugin serves on its socket (not yet listening).
 * `GET /report` answers the cached report; `POST /control` always answers 200 with a JSON object, as
 * Scope requires (another status would mark the plugin broken); unknown paths get a JSON 404.
 */
export function createPluginHttpServer(handlers: PluginHandlers, log: Logger): Server {
  // requireHostHeader off: Node would answer a Host-less HTTP/1.1 request with an empty 400, not JSON.
  const server = createServer({ requireHostHeader: false }, async (req, res) => {
    try {
      const url = parseRequestTarget(req.url);
      if (!url) return send(res, 400, JSON.stringify({ error: `cannot parse the request target ${JSON.stringify(req.url?.slice(0, 200))}; this is a Scope plugin serving GET /report and POST /control` }));
      const probeId = url.searchParams.get('probe_id') ?? undefined;
      if (url.pathname === '/report') {
        if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, JSON.stringify({ error: `${req.method} is not allowed on /report; use GET` }));
        return send(res, 200, handlers.report(probeId));
      }
      if (url.pathname === '/control') {
        if (req.method !== 'POST') return send(res, 405, JSON.stringify({ error: `${req.method} is not allowed on /control; use POST` }));
        const body = await readBody(req, MAX_CONTROL_BODY_BYTES);
        if (typeof body !== 'string') {
          log.warn('rejected control request', { reason: body.error });
          res.setHeader('Connection', 'close');
          return send(res, 200, JSON.stringify(body));
        }
        const request = parseControlRequest(body, probeId);
        if ('error' in request) {
          log.warn('rejected control request', { reason: request.error });
          return send(res, 200, JSON.stringify(request));
        }
        return send(res, 200, JSON.stringify(await handlers.control(request)));
      }
      if (url.pathname === '/status' && req.method === 'GET') return send(res, 200, JSON.stringify(handlers.status()));
      return send(res, 404, JSON.stringify({ error: `no such endpoint: ${req.method} ${url.pathname}; this is a Scope plugin serving GET /report and POST /control` }));
    } catch (error) {
      // The server must never crash on input: answer, log, keep serving.
      log.error('request failed', { path: req.url, error: describeError(error) });
      if (!res.headersSent) send(res, 500, JSON.stringify({ error: describeError(error) }));
      else res.destroy();
    }
  });
  // Node answers an unknown Expect header with an empty 417 unless told otherwise: keep every answer JSON.
  server.on('checkExpectation', (req, res) => {
    res.setHeader('Connection', 'close');
    send(res, 417, JSON.stringify({ error: `unsupported Expect header ${JSON.stringify(req.headers['expect'])}` }));
  });
  server.on('clientError', (error, socket) => {
    log.debug('bad HTTP from client', { error: error.message });
    const body = JSON.stringify({ error: `malformed HTTP request: ${(error as NodeJS.ErrnoException).code ?? error.message}` });
    if (socket.writable) socket.end(`HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
    else socket.destroy();
  });
  server.requestTimeout = 10_000;
  server.headersTimeout = 5_000;
  server.keepAliveTimeout = 5_000;
  return server;
}
