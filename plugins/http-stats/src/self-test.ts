/**
 * The start-up self-test of a tracer program: a short-lived child process serves and sends a few known HTTP
 * requests over loopback; the program passes when the tracer reports them for that child's pid. Used to switch
 * to the register-reading x86_64 program only where it demonstrably counts (program-choice.ts).
 */
import { spawn } from 'node:child_process';
import type { TracerEvent } from './parse.js';

/** Requests the self-test child sends to itself. */
export const SELF_TEST_REQUESTS = 3;

/** Serves on 127.0.0.1, sends SELF_TEST_REQUESTS GETs to itself (new connection each), then idles until killed. */
const CHILD_SCRIPT = `
const http = require('node:http');
const server = http.createServer((req, res) => res.end('ok')).listen(0, '127.0.0.1', async () => {
  const { port } = server.address();
  for (let i = 0; i < ${SELF_TEST_REQUESTS}; i++) {
    await new Promise((resolve) => http.get({ host: '127.0.0.1', port, path: '/http-stats-self-test', agent: false }, (res) => { res.resume(); res.on('end', resolve); }).on('error', resolve));
  }
  process.stdout.write('sent\\n');
});
setTimeout(() => process.exit(0), 30000);
`;

/** A running self-test: feed it the tracer's events; `result` settles true once the requests were seen. */
export interface SelfTest {
  /** The child's pid (its requests are not real traffic: drop it from the stats afterwards). */
  pid: number | undefined;
  observe(event: TracerEvent): void;
  /** True when every request was counted within `timeoutMs`; false otherwise (or if the child could not run). */
  result: Promise<boolean>;
}

/** Starts the self-test child with this Node binary. */
export function startSelfTest(timeoutMs = 5000): SelfTest {
  const child = spawn(process.execPath, ['-e', CHILD_SCRIPT], { stdio: ['ignore', 'ignore', 'ignore'] });
  let seen = 0;
  let settle: (ok: boolean) => void = () => undefined;
  const result = new Promise<boolean>((resolve) => {
    settle = resolve;
  });
  const timer = setTimeout(() => settle(false), timeoutMs);
  child.once('error', () => settle(false));
  void result.finally(() => {
    clearTimeout(timer);
    child.kill('SIGKILL');
  });
  return {
    pid: child.pid,
    observe(event) {
      const requests = event.kind === 'requests' ? event.entries : event.kind === 'counts' ? event.requests : undefined;
      if (!requests || child.pid === undefined) return;
      for (const entry of requests) if (entry.pid === child.pid) seen += entry.count;
      if (seen >= SELF_TEST_REQUESTS) settle(true);
    },
    result,
  };
}
