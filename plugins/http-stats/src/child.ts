/**
 * Starts bpftrace as a child process with node:child_process (execa's 16 MiB of modules are not worth it for one
 * long-running child): stdout/stderr piped, stopped with SIGTERM when the signal aborts (SIGKILL after a delay),
 * and killed if this process exits first, so no probes stay attached behind a dead plugin.
 */
import { spawn } from 'node:child_process';
import type { Readable } from 'node:stream';

/** How a child ended: exit code, or the signal that killed it, or the error that kept it from starting. */
export interface ChildEnd {
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  error?: Error;
}

/** A running child. */
export interface SupervisedChild {
  pid: number | undefined;
  stdout: Readable;
  stderr: Readable;
  /** Settles once the child has exited and its pipes closed; never rejects. */
  ended: Promise<ChildEnd>;
  /** Stops the child as an abort would (SIGTERM, then SIGKILL after the delay). */
  stop(): void;
}

/** Options of {@link spawnChild}. */
export interface SpawnChildOptions {
  /** Added to this process's environment. */
  env?: Record<string, string>;
  /** Aborting stops the child. */
  signal: AbortSignal;
  /** SIGKILL this long after SIGTERM. @default 3000 */
  forceKillAfterMs?: number;
}

/** Spawns `file args` (an argument array, no shell). */
export function spawnChild(file: string, args: readonly string[], options: SpawnChildOptions): SupervisedChild {
  const child = spawn(file, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...options.env } });
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);
  let forceTimer: NodeJS.Timeout | undefined;
  const stop = () => {
    child.kill('SIGTERM');
    forceTimer = setTimeout(() => child.kill('SIGKILL'), options.forceKillAfterMs ?? 3000);
    forceTimer.unref();
  };
  if (options.signal.aborted) stop();
  else options.signal.addEventListener('abort', stop, { once: true });
  const ended = new Promise<ChildEnd>((resolve) => {
    let error: Error | undefined;
    // 'error' (e.g. ENOENT) may come without 'close' when the child never started.
    child.once('error', (e) => {
      error = e;
      if (child.pid === undefined) resolve({ exitCode: null, signal: null, error: e });
    });
    child.once('close', (exitCode, signal) => resolve({ exitCode, signal, ...(error ? { error } : {}) }));
  }).finally(() => {
    clearTimeout(forceTimer);
    process.removeListener('exit', killOnExit);
    options.signal.removeEventListener('abort', stop);
  });
  return { pid: child.pid, stdout: child.stdout, stderr: child.stderr, ended, stop };
}
