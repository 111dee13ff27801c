import { readFile } from 'node:fs/promises';
import { createBackoff, sleepUnlessAborted, validatePositiveNumber, type Logger } from '@scope-plugins/core';
import type { TracerEvent } from './parse.js';
import { checkTracerPrerequisites } from './preflight.js';
import { spawnChild, type SupervisedChild } from './child.js';
import { followTracerOutput } from './tracer-output.js';
import { compileAot, type CompiledProgram } from './aot.js';
import { writeProgramBtf, type BtfFile } from './btf.js';

/** Options of {@link createTracer}. */
export interface TracerOptions {
  /** bpftrace command or path. @default 'bpftrace' */
  bpftrace?: string;
  /** The bpftrace program file (checked by the preflight; run unless `programText` is given). */
  programPath: string;
  /**
   * The program to run instead of the file's text (`bpftrace -e`), asked again before every start, e.g. the
   * syscall program with the TLS fragment appended (program.ts). @default the file at programPath
   */
  programText?: () => string | Promise<string>;
  /** Positional parameters after the program (`$1`, …), e.g. the pid the program must not count. @default [] */
  args?: string[];
  /** Files the program's uprobes attach to, checked by the preflight. @default [] */
  attachTargets?: string[];
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
  /** Called each time a bpftrace process ended (not when stopped): how, and whether its program had started. */
  onEnded?(ended: { reason: string; reachedRunning: boolean }): void;
  /** First restart delay; doubles per failure in a row. @default 1000 */
  minBackoffMs?: number;
  /** @default 30000 */
  maxBackoffMs?: number;
  /** A run at least this long resets the backoff. @default 60000 */
  healthyAfterMs?: number;
  /** Keys per bpftrace map (pending requests are one key per open socket). @default 65536 */
  mapKeysMax?: number;
  /**
   * Run the program in bpftrace's ahead-of-time mode: compiled with `bpftrace --aot` before every start and run by
   * this runtime (`bpftrace-aotrt`), which holds no LLVM (src/aot.ts). The program must suit that mode (no casts,
   * no curtask, no positional parameters: `args` must be empty). @default undefined (plain bpftrace)
   */
  aotRuntime?: string;
  /**
   * Give bpftrace (not the AOT runtime) a BTF file with only the kernel types its program names (src/btf.ts,
   * BPFTRACE_BTF) instead of letting it load the kernel's whole BTF twice: about 12 MiB less resident for the life of
   * the tracer, and a shorter start. When bpftrace does not start with that file, the next start goes without it.
   * A BPFTRACE_BTF already in the environment is left as it is. @default true
   */
  btfSubset?: boolean;
}

/**
 * glibc malloc settings for the bpftrace child: its compilation (LLVM, clang) frees most of what it
 * allocated, and with these glibc gives it back instead of keeping it in the heap. Measured on the
 * plugin's own program (bench/results/http-stats.md, README): 8.7 MiB less anonymous memory, the same
 * start-up time and CPU. One arena (arena_max=1): libclang parses on a thread of its own, whose arena
 * otherwise keeps ~2 MiB for good (measured with the BTF subset of src/btf.ts: 18.6 → 16.7 MiB anonymous,
 * same CPU). A GLIBC_TUNABLES already in the environment is left as it is.
 */
export const BPFTRACE_GLIBC_TUNABLES = 'glibc.malloc.trim_threshold=65536:glibc.malloc.mmap_threshold=65536:glibc.malloc.arena_max=1';

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
  /** Ends the running bpftrace so the loop starts it again (with the program `programText` gives then). */
  restart(): void;
}


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
  if (options.aotRuntime !== undefined && args.length > 0) throw new TypeError(`an AOT program takes no positional parameters (bpftrace 0.17 refuses them), got args ${JSON.stringify(args)}`);
  const log = options.log.child(name === 'tracer' ? {} : { tracer: name });
  const abort = new AbortController();
  let status: TracerStatus = { state: 'starting', starts: 0 };
  let child: SupervisedChild | undefined;
  const backoff = createBackoff({ initialMs: minBackoffMs, maxMs: maxBackoffMs });

  const setState = (next: TracerStatus, level: 'info' | 'warn' | 'error', message: string, fields?: Record<string, string | number>) => {
    status = next;
    log.transition(name, `${next.state}:${next.reason ?? ''}`, level, message, fields);
  };

  const env = { BPFTRACE_MAP_KEYS_MAX: String(mapKeysMax), GLIBC_TUNABLES: process.env['GLIBC_TUNABLES'] ?? BPFTRACE_GLIBC_TUNABLES };
  let btfSubset = (options.btfSubset ?? true) && process.env['BPFTRACE_BTF'] === undefined;
  const runOnce = async (bpftracePath: string): Promise<{ reason: string; reachedRunning: boolean }> => {
    let compiled: CompiledProgram | undefined;
    let btf: BtfFile | undefined;
    const programText = options.programText ? await options.programText() : undefined;
    let command = [bpftracePath, '-f', 'json', ...(programText === undefined ? [options.programPath] : ['-e', programText]), ...args];
    if (options.aotRuntime !== undefined) {
      try {
        compiled = await compileAot(bpftracePath, programText ?? (await readFile(options.programPath, 'utf8')), env, abort.signal);
      } catch (error) {
        return { reason: `could not compile the AOT program: ${(error as Error).message}`, reachedRunning: false };
      }
      command = [options.aotRuntime, '-f', 'json', compiled.path];
    } else if (btfSubset) {
      try {
        btf = await writeProgramBtf(programText ?? (await readFile(options.programPath, 'utf8')), options.sysRoot, abort.signal);
        log.debug('kernel types for bpftrace written', { path: btf.path, bytes: btf.bytes });
      } catch (error) {
        // No BTF in the kernel, a type the program names is not in it, no writable directory: bpftrace does as before.
        if (!abort.signal.aborted) log.transition(`${name}-btf`, 'kernel', 'info', "bpftrace loads the kernel's whole BTF (no subset written)", { reason: (error as Error).message.slice(0, 200) });
      }
    }
    const proc = spawnChild(command[0]!, command.slice(1), { env: btf ? { ...env, BPFTRACE_BTF: btf.path } : env, signal: abort.signal, forceKillAfterMs: 3000 });
    child = proc;
    status = { state: 'starting', starts: status.starts + 1, ...(proc.pid === undefined ? {} : { pid: proc.pid }) };
    let reachedRunning = false;
    const output = followTracerOutput(proc.stdout, proc.stderr, {
      log,
      onEvent: options.onEvent,
      onReady: (at, probes) => {
        reachedRunning = true;
        // bpftrace read its BTF file before attaching: the file is not needed any more.
        void btf?.remove();
        setState({ state: 'running', starts: status.starts, ...(proc.pid === undefined ? {} : { pid: proc.pid }) }, 'info', options.runningMessage ?? 'tracing HTTP on syscall tracepoints', {
          probes,
          bpftracePid: proc.pid ?? 0,
        });
        options.onRunning?.(at);
      },
    });
    const startedAt = Date.now();
    const result = await proc.ended;
    child = undefined;
    await compiled?.remove();
    await btf?.remove();
    // A type the subset lacks (a pointer followed to a struct the program does not name): bpftrace or its clang says
    // so naming a struct, union, field or type; a syntax error or a missing permission is not the subset's fault.
    if (btf && !reachedRunning && !abort.signal.aborted && /struct|union|field|type|BTF/i.test(output.stderrTail().join(' '))) {
      btfSubset = false;
      log.warn("bpftrace did not start with the subset of the kernel's BTF; starting it with the kernel's whole BTF from now on", { stderr: output.stderrTail().join(' | ').slice(0, 300) });
    }
    if (Date.now() - startedAt >= healthyAfterMs) backoff.reset();
    const how = result.error && result.exitCode === null && result.signal === null ? `could not start: ${result.error.message}` : result.signal ? `killed by ${result.signal}` : `exit code ${result.exitCode ?? '?'}`;
    const tail = output.stderrTail();
    return { reason: tail.length > 0 ? `${how}: ${tail.join(' | ')}` : how, reachedRunning };
  };

  const loop = async () => {
    while (!abort.signal.aborted) {
      const check = await checkTracerPrerequisites({
        bpftrace,
        programPath: options.programPath,
        attachTargets: options.attachTargets ?? [],
        ...(options.procRoot === undefined ? {} : { procRoot: options.procRoot }),
        ...(options.sysRoot === undefined ? {} : { sysRoot: options.sysRoot }),
      });
      if (abort.signal.aborted) break;
      if (!check.ok) {
        setState({ state: 'waiting', reason: check.problem.code, starts: status.starts }, 'warn', `cannot trace ${options.what ?? 'HTTP'}: ${check.problem.message}; ${options.whileDown ?? 'serving no process nodes until this is fixed'}`);
      } else {
        const { reason: ended, reachedRunning } = await runOnce(check.bpftracePath);
        if (abort.signal.aborted) break;
        options.onEnded?.({ reason: ended, reachedRunning });
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
    restart() {
      child?.stop();
    },
    async stop() {
      if (!abort.signal.aborted) abort.abort();
      await child?.ended;
      await done;
      status = { state: 'stopped', starts: status.starts };
    },
  };
}
