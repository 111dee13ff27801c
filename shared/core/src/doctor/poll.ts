import { request } from 'node:http';
import { createRequire } from 'node:module';

// zlib (~0.3 MiB) only when a plugin answers gzip: every plugin process imports this module through core's index.
const require = createRequire(import.meta.url);
const gunzipSync = (...args: Parameters<typeof import('node:zlib').gunzipSync>) => (require('node:zlib') as typeof import('node:zlib')).gunzipSync(...args);

/** Scope's decompressed size limit for a plugin reply. */
export const MAX_REPORT_BYTES = 50 * 1024 * 1024;

/** Outcome of one HTTP exchange with a plugin socket. */
export type PollResult =
  | { ok: true; statusCode: number; statusMessage: string; body: string; elapsedMs: number }
  | { ok: false; error: string; elapsedMs: number };

/** Options of {@link requestPlugin}. */
export interface RequestPluginOptions {
  method?: 'GET' | 'POST';
  path: string;
  body?: string;
  /** Connect + headers + body deadline, as the probe's. @default 500 */
  timeoutMs?: number;
}

/** Talks HTTP to a plugin socket exactly as the Scope probe does (Host: plugin, gzip accepted, 500 ms deadline). */
export function requestPlugin(socketPath: string, options: RequestPluginOptions): Promise<PollResult> {
  const started = process.hrtime.bigint();
  const elapsed = () => Number(process.hrtime.bigint() - started) / 1e6;
  const timeoutMs = options.timeoutMs ?? 500;
  return new Promise((resolve) => {
    let settled = false;
    const finish = (result: PollResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(result);
    };
    const headers: Record<string, string> = { Host: 'plugin', 'Accept-Encoding': 'gzip' };
    if (options.body !== undefined) {
      headers['Content-Type'] = 'application/json';
      headers['Content-Length'] = String(Buffer.byteLength(options.body));
    }
    const req = request({ socketPath, path: options.path, method: options.method ?? 'GET', headers }, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > MAX_REPORT_BYTES) {
          req.destroy();
          finish({ ok: false, error: 'response must be shorter than 50MB', elapsedMs: elapsed() });
          return;
        }
        chunks.push(chunk);
      });
      res.on('end', () => {
        let raw = Buffer.concat(chunks);
        try {
          if (res.headers['content-encoding'] === 'gzip') raw = gunzipSync(raw, { maxOutputLength: MAX_REPORT_BYTES });
        } catch (error) {
          finish({ ok: false, error: `decoding error: ${(error as Error).message}`, elapsedMs: elapsed() });
          return;
        }
        finish({ ok: true, statusCode: res.statusCode ?? 0, statusMessage: res.statusMessage ?? '', body: raw.toString('utf8'), elapsedMs: elapsed() });
      });
      res.on('error', (error) => finish({ ok: false, error: error.message, elapsedMs: elapsed() }));
    });
    const timer = setTimeout(() => {
      req.destroy();
      finish({ ok: false, error: 'context deadline exceeded', elapsedMs: elapsed() });
    }, timeoutMs);
    req.on('error', (error: NodeJS.ErrnoException) => {
      const reason = error.code === 'ECONNREFUSED' ? 'connect: connection refused' : error.code === 'ENOENT' ? 'connect: no such file or directory' : error.message;
      finish({ ok: false, error: `Get "http://plugin${options.path}": dial unix ${socketPath}: ${reason}`, elapsedMs: elapsed() });
    });
    req.end(options.body);
  });
}

/** Polls `GET /report` the way the probe does. */
export function pollReport(socketPath: string, probeId = '5c0bed0c7054', timeoutMs = 500): Promise<PollResult> {
  return requestPlugin(socketPath, { path: `/report?api_version=1&probe_id=${probeId}`, timeoutMs });
}
