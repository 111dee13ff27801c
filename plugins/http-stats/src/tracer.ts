import { createInterface } from 'node:readline';
import { execa } from 'execa';
import { createBackoff, sleepUnlessAborted, validatePositiveNumber, type Logger } from '@scope-plugins/core';
import { parseTracerLine, type TracerEvent } from './parse.js';
import { checkTracerPrerequisites } from './preflight.js';

/** Options of {@link createTracer}. */
export interface TracerOptions {
  /** bpftrace command or path. @default 'bpftrace' */
  bpftrace?: string;
  /** The bpftrace program file. */
  programPath: string;
  /** Positional parameters after the program (`$1`, …), e.g. the library a uprobe program attaches to. @default [] */
  args?: string[];
  /** Names this tracer in log lines and keys its state changes (several tracers can share a logger). @default 'tracer' */
  name?: string;
  /** Logged once the program runs. @default 'tracing HTTP on syscall tracepoints' */
  runningMessage?: string;
  /** What this tracer traces, for "cannot trace <what>" lines. @default 'HTTP' */
  what?: string;
  /** What that means for the report, appended to those lines. @default 'serving no process nodes until this is fixed' */
  whileDown?: string;
  /** @default '/proc' */
  procRoot?: string;
  /** @default '/sys' */
  sysRoot?: string;
  log: Logger;
  /** Gets every parsed event with the time it arrived. */
  onEvent(event: TracerEvent, at: Date): void;
  /** Called each time bpftrace has attached its probes and the program started (counting starts). */
  onRunning?(at: Date): void;
  /** First restart delay; doubles per failure in a row. @default 1000 */
  minBackoffMs?: number;
  /** @default 30000 */
  maxBackoffMs?: number;
  /** A run at least this long resets the backoff. @default 60000 */
  healthyAfterMs?: number;
  /** Keys per bpftrace map (pending requests are one key per open socket). @default 65536 */
  mapKeysMax?: number;
}

/** Where the tracer is. */
export interface TracerStatus {
  state: 'starting' | 'running' | 'waiting' | 'stopped';
  /** Why it is waiting: a preflight problem or how bpftrace ended. */
  reason?: string;
  /** The bpftrace process id while one runs. */
  pid?: number;
  /** bpftrace processes started so far. */
  starts: number;
}

/** A supervised bpftrace process. */
export interface Tracer {
  status(): TracerStatus;
  /** Stops bpftrace and the supervision loop. Idempotent. */
  stop(): Promise<void>;
}

const HARMLESS_STDERR = /RLIMIT_MEMLOCK|^Attaching \d+ probes?|Addrspace is not set/;


/**
 * Starts bpftrace on the program and keeps it running: checks prerequisites first (saying exactly what
 * is missing and how to fix it), streams its JSON lines to `onEvent`, and restarts it with exponential
 * backoff when it ends. Logs one line per state change, never one per retry.
 */
export function createTracer(options: TracerOptions): Tracer {
  const bpftrace = options.bpftrace ?? 'bpftrace';
  const minBackoffMs = validatePositiveNumber('minBackoffMs', options.minBackoffMs ?? 1000, 'milliseconds');
  const maxBackoffMs = validatePositiveNumber('maxBackoffMs', options.maxBackoffMs ?? 30_000, 'milliseconds');
  const healthyAfterMs = validatePositiveNumber('healthyAfterMs', options.healthyAfterMs ?? 60_000, 'milliseconds');
  const mapKeysMax = options.mapKeysMax ?? 65_536;
  if (!Number.isSafeInteger(mapKeysMax) || mapKeysMax < 1024) throw new TypeError(`mapKeysMax must be an integer >= 1024, got ${JSON.stringify(mapKeysMax)}`);
  const name = options.name ?? 'tracer';
  const args = options.args ?? [];
  const log = options.log.child(name === 'tracer' ? {} : { tracer: name });
  const abort = new AbortController();
  let status: TracerStatus = { state: 'starting', starts: 0 };
  let child: ReturnType<typeof execa> | undefined;
  const backoff = createBackoff({ initialMs: minBackoffMs, maxMs: maxBackoffMs });

  const setState = (next: TracerStatus, level: 'info' | 'warn' | 'error', message: string, fields?: Record<string, string | number>) => {
    status = next;
    log.transition(name, `${next.state}:${next.reason ?? ''}`, level, message, fields);
  };

  const runOnce = async (bpftracePath: string): Promise<string> => {
    const proc = execa(bpftracePath, ['-f', 'json', options.programPath, ...args], {
      reject: false,
      stdin: 'ignore',
      buffer: false,
      env: { BPFTRACE_MAP_KEYS_MAX: String(mapKeysMax) },
      cleanup: true,
      forceKillAfterDelay: 3000,
      cancelSignal: abort.signal,
    });
    child = proc;
    status = { state: 'starting', starts: status.starts + 1, ...(proc.pid === undefined ? {} : { pid: proc.pid }) };
    const stderrTail: string[] = [];
    createInterface({ input: proc.stderr! }).on('line', (line) => {
      if (line.trim() === '' || HARMLESS_STDERR.test(line)) return;
      stderrTail.push(line.trim());
      if (stderrTail.length > 5) stderrTail.shift();
    });
    let badLines = 0;
    let probes = 0;
    createInterface({ input: proc.stdout! }).on('line', (line) => {
      const at = new Date();
      const event = parseTracerLine(line);
      if (!event) return;
      if (event.kind === 'error') {
        // A bad line loses only itself; say so once per run rather than per line.
        if (badLines++ === 0) log.warn('bpftrace printed a line http-stats cannot read; skipping such lines', { problem: event.message, line: event.line.slice(0, 200) });
        return;
      }
      if (event.kind === 'attached') {
        probes = event.probes;
      } else if (event.kind === 'ready') {
        // bpftrace prints attached_probes before attaching; the program's BEGIN runs once all are attached.
        setState({ state: 'running', starts: status.starts, ...(proc.pid === undefined ? {} : { pid: proc.pid }) }, 'info', options.runningMessage ?? 'tracing HTTP on syscall tracepoints', {
          probes,
          bpftracePid: proc.pid ?? 0,
        });
        options.onRunning?.(at);
      } else if (event.kind === 'lost') {
        log.warn('bpftrace lost events', { events: event.events });
      }
      options.onEvent(event, at);
    });
    const startedAt = Date.now();
    const result = await proc;
    child = undefined;
    if (Date.now() - startedAt >= healthyAfterMs) backoff.reset();
    const how = result.signal ? `killed by ${result.signal}` : `exit code ${result.exitCode ?? '?'}`;
    return stderrTail.length > 0 ? `${how}: ${stderrTail.join(' | ')}` : how;
  };

  const loop = async () => {
    while (!abort.signal.aborted) {
      const check = await checkTracerPrerequisites({
        bpftrace,
        programPath: options.programPath,
        attachTargets: args,
        ...(options.procRoot === undefined ? {} : { procRoot: options.procRoot }),
        ...(options.sysRoot === undefined ? {} : { sysRoot: options.sysRoot }),
      });
      if (abort.signal.aborted) break;
      if (!check.ok) {
        setState({ state: 'waiting', reason: check.problem.code, starts: status.starts }, 'warn', `cannot trace ${options.what ?? 'HTTP'}: ${check.problem.message}; ${options.whileDown ?? 'serving no process nodes until this is fixed'}`);
      } else {
        const ended = await runOnce(check.bpftracePath);
        if (abort.signal.aborted) break;
        // The reason's first words make the state: the same failure again is not a new state.
        setState({ state: 'waiting', reason: `exited ${ended.slice(0, 120)}`, starts: status.starts }, 'warn', `bpftrace ended (${ended}); restarting with backoff`);
      }
      // Aborted while waiting: the loop condition ends it.
      await sleepUnlessAborted(backoff.next(), abort.signal);
    }
  };

  const done = loop().catch((error: unknown) => {
    log.error('http-stats tracer supervision failed', { error: error instanceof Error ? error.message : String(error) });
  });

  return {
    status: () => status,
    async stop() {
      if (!abort.signal.aborted) abort.abort();
      await child?.catch(() => undefined);
      await done;
      status = { state: 'stopped', starts: status.starts };
    },
  };
}
