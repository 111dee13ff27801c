import { validatePositiveNumber } from './validate.js';

/** Doubling retry delays for reconnect and restart loops. */
export interface Backoff {
  /** The delay to wait now; the one after it doubles, up to the maximum. */
  next(): number;
  /** Back to the initial delay (after a success). */
  reset(): void;
}

/** Options of {@link createBackoff}. */
export interface BackoffOptions {
  /** First delay. */
  initialMs: number;
  /** Largest delay. */
  maxMs: number;
}

/** Creates a {@link Backoff}: initialMs, 2×, 4×, … capped at maxMs. */
export function createBackoff(options: BackoffOptions): Backoff {
  const initialMs = validatePositiveNumber('initialMs', options.initialMs);
  const maxMs = validatePositiveNumber('maxMs', options.maxMs);
  let delayMs = initialMs;
  return {
    next() {
      const current = Math.min(delayMs, maxMs);
      delayMs = Math.min(delayMs * 2, maxMs);
      return current;
    },
    reset() {
      delayMs = initialMs;
    },
  };
}

/** Waits `ms`, or less if `signal` aborts first; never rejects. */
export function sleepUnlessAborted(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}
