/**
 * Which TLS libraries go into the one bpftrace program, and what the report says about each: a library
 * that is missing or cannot be named in an attach point is left out from the start (HTTP tracing must not
 * wait for it); when the program with the TLS part does not start because of an attach failure, the TLS
 * part is dropped so plain HTTP keeps being traced, and each library shows why.
 */
import { stat } from 'node:fs/promises';
import type { Logger } from '@scope-plugins/core';
import { isAttachablePath } from './program.js';
import type { TracerStatus } from './tracer.js';

/** The TLS side of the tracer. */
export interface TlsPlan {
  /** Libraries the program attaches to now. */
  attached(): string[];
  /** A state per library for the host node: the tracer's own while attached, else why not. */
  statuses(tracer: TracerStatus): Array<{ library: string; status: TracerStatus }>;
  /** Tells the plan a bpftrace run ended; drops the TLS part when it kept the program from starting. */
  onTracerEnded(ended: { reason: string; reachedRunning: boolean }): void;
}

/** Checks each library once and returns the plan. */
export async function planTlsTracing(libraries: readonly string[], log: Logger): Promise<TlsPlan> {
  const excluded = new Map<string, string>();
  for (const library of libraries) {
    let problem: string | undefined;
    if (!isAttachablePath(library)) problem = 'BAD_PATH';
    else {
      try {
        await stat(library);
      } catch {
        problem = 'ATTACH_TARGET_MISSING';
      }
    }
    if (problem) {
      excluded.set(library, problem);
      log.warn(`cannot trace HTTPS in ${library}: ${problem === 'BAD_PATH' ? 'the path has characters bpftrace cannot attach to' : `the library to trace is missing: ${library} does not exist; install it or remove it from --tls-libraries`}; HTTPS through it is not counted until this is fixed`);
    }
  }
  let attached = libraries.filter((library) => !excluded.has(library));
  return {
    attached: () => attached,
    statuses(tracer) {
      return libraries.map((library) => {
        const reason = excluded.get(library);
        return { library, status: reason ? { state: 'waiting', reason, starts: 0 } : tracer };
      });
    },
    onTracerEnded({ reason, reachedRunning }) {
      if (reachedRunning || attached.length === 0) return;
      // Only an attach failure is the TLS part's fault (bpftrace names the uprobe or the file); anything else
      // (no memory, a killed bpftrace) would fail the plain program as well.
      if (!/uprobe|SSL_|symbol/i.test(reason) && !attached.some((library) => reason.includes(library))) return;
      for (const library of attached) excluded.set(library, `exited ${reason.slice(0, 120)}`);
      log.warn('bpftrace could not attach to the TLS libraries; tracing plain HTTP only', { reason: reason.slice(0, 300), libraries: attached.join(',') });
      attached = [];
    },
  };
}
