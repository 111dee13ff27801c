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
export { renderNode, type RenderedNode, type RenderedRow, type RenderedTable } from './render.js';

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

/** Options of {@link startTestPlugin}: the runtime's, with `idleAfterMs` defaulting to 0 (never idle). */
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
  // No idle rule unless a test asks for it: a test that waits without polling /report (a load phase, a dd
  // run) must still get a collection every interval.
  const running = await startPlugin(definition, { idleAfterMs: 0, ...options, root, log, hostId: options.hostId ?? 'test-host' });
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

/** The part of vitest's test context {@link requireComponent} uses (`ctx.skip`), so core does not import vitest. */
export interface SkippableContext {
  skip(note?: string): never;
}

/** True when the tests run under CI: `CI=true` or `CI=1` only (`CI=false`, `CI=0` or an empty `CI` are not CI). */
export function isCi(env: NodeJS.ProcessEnv = process.env): boolean {
  const value = env['CI']?.trim().toLowerCase();
  return value === 'true' || value === '1';
}

// One loud warning per missing component and process, not one per skipped test.
const warned = new Set<string>();

/**
 * Makes a test depend on a real component (a daemon, a tool, root). When `available` is false the
 * test does not run: under CI ({@link isCi}) it fails with `howToGet` in the message, because CI must
 * never go green by skipping; elsewhere it is skipped through vitest's context (`ctx.skip`) after a
 * loud warning on stderr, and the skip note says what is missing.
 *
 * Call it first in the test, or in `beforeEach((ctx) => requireComponent(ctx, …))` for a whole
 * `describe`; a `beforeAll` that needs the component must itself return early when it is missing.
 */
export function requireComponent(context: SkippableContext, name: string, available: boolean, howToGet: string): void {
  if (available) return;
  const message = `${name} is not available: ${howToGet}`;
  if (isCi()) throw new Error(`${message} (CI: a test that needs it must fail, not skip)`);
  if (!warned.has(message)) {
    warned.add(message);
    process.stderr.write(`\n!!! SKIPPING tests that need ${message}\n\n`);
  }
  context.skip(`needs ${message}`);
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
