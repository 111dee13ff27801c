import { createInterface } from 'node:readline';
import { Agent, request } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { fileURLToPath } from 'node:url';
import { execa, type ResultPromise } from 'execa';
import { requireComponent, type SkippableContext } from '@scope-plugins/core/testing';
import { checkTracerPrerequisites } from '../src/preflight.js';
import { BPF_PROGRAM_PATH } from '../src/index.js';

/** A test HTTP server process on 127.0.0.1. */
export interface TestServer {
  pid: number;
  port: number;
  process: ResultPromise;
  stop(): Promise<void>;
}

const SERVERS = {
  node: [process.execPath, fileURLToPath(new URL('./servers/node-server.mjs', import.meta.url))],
  python: ['python3', fileURLToPath(new URL('./servers/python-server.py', import.meta.url))],
} as const;

/** The self-signed certificate and key of the HTTPS test servers (fixtures/tls). */
export const TLS_FILES = [fileURLToPath(new URL('./fixtures/tls/cert.pem', import.meta.url)), fileURLToPath(new URL('./fixtures/tls/key.pem', import.meta.url))] as const;

/** Starts one of the test servers (HTTPS with `tls`) on a free loopback port and waits for it to listen (10 s at most). */
export async function startServer(kind: keyof typeof SERVERS, options: { tls?: boolean } = {}): Promise<TestServer> {
  const [command, script] = SERVERS[kind];
  const proc = execa(command, [script, '0', ...(options.tls ? TLS_FILES : [])], { reject: false, stdin: 'ignore', buffer: false, timeout: 600_000 });
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${kind} server did not listen within 10 s`)), 10_000);
    createInterface({ input: proc.stdout! }).on('line', (line) => {
      const match = /^listening (\d+)$/.exec(line);
      if (match) {
        clearTimeout(timer);
        resolve(Number(match[1]));
      }
    });
    void proc.then((r) => reject(new Error(`${kind} server exited early: ${r.exitCode} ${String(r.stderr ?? '')}`)));
  });
  return {
    pid: proc.pid!,
    port,
    process: proc,
    async stop() {
      proc.kill('SIGKILL');
      await proc;
    },
  };
}

/** One line of a load plan: `count` requests with this method, asking for this status. */
export interface LoadStep {
  method: string;
  status: number;
  count: number;
}

/** What the load generator saw: responses by status and requests by method. */
export interface LoadResult {
  byStatus: Record<number, number>;
  byMethod: Record<string, number>;
  failures: number;
}

/**
 * Sends a fixed, shuffled-by-round-robin set of requests over keep-alive connections to 127.0.0.1:port,
 * `concurrency` at a time, each with a 5 s timeout. Bounded in count (the plan) and time (timeouts).
 */
export async function runLoad(port: number, plan: LoadStep[], concurrency = 8, options: { tls?: boolean } = {}): Promise<LoadResult> {
  const queue: Array<{ method: string; status: number }> = [];
  const remaining = plan.map((s) => ({ ...s }));
  // Interleave the steps so every code and method is spread over the run.
  while (remaining.some((s) => s.count > 0)) {
    for (const s of remaining) {
      if (s.count > 0) {
        queue.push({ method: s.method, status: s.status });
        s.count--;
      }
    }
  }
  // The servers' certificate is self-signed: trust is not what these tests are about.
  const agent = options.tls ? new HttpsAgent({ keepAlive: true, maxSockets: concurrency, rejectUnauthorized: false }) : new Agent({ keepAlive: true, maxSockets: concurrency });
  const send = options.tls ? httpsRequest : request;
  const result: LoadResult = { byStatus: {}, byMethod: {}, failures: 0 };
  const one = (item: { method: string; status: number }) =>
    new Promise<void>((resolve) => {
      const body = item.method === 'POST' || item.method === 'PUT' ? 'payload' : undefined;
      const req = send(
        { host: '127.0.0.1', port, path: `/?s=${item.status}`, method: item.method, agent, timeout: 5000, headers: body ? { 'content-length': Buffer.byteLength(body) } : {} },
        (res) => {
          res.resume();
          res.on('end', () => {
            const code = res.statusCode ?? 0;
            result.byStatus[code] = (result.byStatus[code] ?? 0) + 1;
            result.byMethod[item.method] = (result.byMethod[item.method] ?? 0) + 1;
            resolve();
          });
        },
      );
      req.on('timeout', () => req.destroy(new Error('timeout')));
      req.on('error', () => {
        result.failures++;
        resolve();
      });
      req.end(body);
    });
  let next = 0;
  const workers = Array.from({ length: concurrency }, async () => {
    while (next < queue.length) await one(queue[next++]!);
  });
  await Promise.all(workers);
  agent.destroy();
  return result;
}

/** Whether bpftrace can run here (root, tracefs, BTF) and, when not, what is wrong and how to fix it. */
export interface TracerCheck {
  available: boolean;
  howToGet: string;
}

/** Checks once per test file whether bpftrace can run here; pass the result to {@link requireTracer}. */
export async function checkTracer(): Promise<TracerCheck> {
  const check = await checkTracerPrerequisites({ bpftrace: 'bpftrace', programPath: BPF_PROGRAM_PATH });
  return check.ok
    ? { available: true, howToGet: '' }
    : { available: false, howToGet: `${check.problem.message} (scripts/provision.sh installs bpftrace and mounts tracefs)` };
}

/** core's requireComponent for bpftrace: skips the test loudly when bpftrace cannot run here, fails it under CI. */
export function requireTracer(ctx: SkippableContext, tracer: TracerCheck): void {
  requireComponent(ctx, 'bpftrace with root and tracefs', tracer.available, tracer.howToGet);
}
