import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger, type LogLevel } from '../log.js';
import type { ResolvedPluginDefinition } from '../plugin/define.js';
import { startPlugin, type RunningPlugin, type RuntimeOptions } from '../plugin/runtime.js';
import { pollReport, requestPlugin, type PollResult } from '../doctor/poll.js';
import { diagnosePoll, type Diagnosis } from '../doctor/diagnose.js';
import type { Report } from '../report/types.js';

export { requestPlugin, pollReport, type PollResult };

/** A plugin started on a temporary root, reachable over its real socket. `stop()` throws if the report guard ever had to remove something. */
export interface TestPlugin {
  root: string;
  socketPath: string;
  running: RunningPlugin;
  /** Log lines the plugin wrote. */
  logs: string[];
  /** `GET /report` over the socket, parsed. */
  report(): Promise<Report>;
  /** `POST /control` over the socket with Scope's body shape; returns the parsed JSON answer. */
  control(control: string, nodeId: string, args?: Record<string, string> | null): Promise<Record<string, unknown>>;
  /** The doctor's verdict on the socket. */
  doctor(): Promise<Diagnosis>;
  /** Waits until `predicate` holds for the served report (polling every 100 ms), or throws after `timeoutMs`. */
  waitForReport(predicate: (report: Report) => boolean, timeoutMs?: number): Promise<Report>;
  stop(): Promise<void>;
}

/** Options of {@link startTestPlugin}. */
export interface TestPluginOptions extends Omit<RuntimeOptions, 'root' | 'log'> {
  /** @default 'debug' */
  logLevel?: LogLevel;
  /** Tests fail on any report-guard violation unless this is set (for tests of the guard itself). @default false */
  allowGuardViolations?: boolean;
}

/** Starts `definition` on a fresh temporary plugins root and gives helpers to talk to it over its socket. */
export async function startTestPlugin(definition: ResolvedPluginDefinition, options: TestPluginOptions = {}): Promise<TestPlugin> {
  // Short root: UNIX socket paths are limited to 107 bytes.
  const root = await mkdtemp(join(tmpdir(), 'sp-'));
  const logs: string[] = [];
  const log = createLogger({ level: options.logLevel ?? 'debug', write: (line) => logs.push(line) });
  const running = await startPlugin(definition, { ...options, root, log, hostId: options.hostId ?? 'test-host' });
  const hostId = options.hostId ?? 'test-host';
  const report = async (): Promise<Report> => {
    const poll = await pollReport(running.socketPath, undefined, 2000);
    if (!poll.ok) throw new Error(`poll failed: ${poll.error}`);
    if (poll.statusCode !== 200) throw new Error(`poll answered ${poll.statusCode}: ${poll.body}`);
    return JSON.parse(poll.body) as Report;
  };
  return {
    root,
    socketPath: running.socketPath,
    running,
    logs,
    report,
    async control(control, nodeId, args = null) {
      const body = JSON.stringify({ AppID: 'test', Control: control, ControlArgs: args, NodeID: nodeId });
      const answer = await requestPlugin(running.socketPath, { method: 'POST', path: '/control?api_version=1&probe_id=test', body, timeoutMs: 2000 });
      if (!answer.ok) throw new Error(`control failed: ${answer.error}`);
      if (answer.statusCode !== 200) throw new Error(`control answered ${answer.statusCode}`);
      return JSON.parse(answer.body) as Record<string, unknown>;
    },
    async doctor() {
      return diagnosePoll(running.socketPath, await pollReport(running.socketPath, undefined, 2000), hostId);
    },
    async waitForReport(predicate, timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs;
      let last: Report | undefined;
      while (Date.now() < deadline) {
        last = await report();
        if (predicate(last)) return last;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      throw new Error(`report did not reach the expected state within ${timeoutMs} ms; last report: ${JSON.stringify(last).slice(0, 2000)}`);
    },
    async stop() {
      const { guardViolations } = running.health();
      await running.stop();
      await rm(root, { recursive: true, force: true });
      if (guardViolations > 0 && !options.allowGuardViolations) {
        const lines = logs.filter((line) => line.includes('report guard removed')).join('\n');
        throw new Error(`plugin ${definition.id} emitted ${guardViolations} report part(s) the guard had to remove:\n${lines}`);
      }
    },
  };
}

/**
 * Says whether a real component a test needs is there. Missing: under `CI` it throws (CI must never go
 * green by skipping); elsewhere it warns loudly and returns false so the test can skip.
 */
export function requireComponent(name: string, available: boolean, howToGet: string): boolean {
  if (available) return true;
  const message = `${name} is not available: ${howToGet}`;
  if (process.env['CI']) throw new Error(`${message} (CI=true: tests needing it must not be skipped)`);
  process.stderr.write(`\n!!! SKIPPING tests that need ${message}\n\n`);
  return false;
}
export {
  EXPOSITION_PARSER_PYTHON,
  hasExpositionParser,
  parseExposition,
  readListeningSockets,
  scrapeMetrics,
  type ListeningSocket,
  type ParsedFamily,
  type ParsedSample,
} from './exposition.js';
