/**
 * Says when a collection would build the very report the last one built (apart from its time), so the plugin can
 * answer core's UNCHANGED and skip building, guarding and serializing it. On a host where no HTTP was counted for
 * a window, that is every second: only the liveness of the traced processes is checked.
 */
import type { HttpStats } from './stats.js';

/** Remembers the last report built and tells whether a report built now would be the same. */
export interface UnchangedCheck {
  /**
   * True when a report built at `now` would equal the last one recorded with {@link built}, timestamps aside:
   * the same host lines (`hostLines`: the tracers' states), no change of the counts since, the counts already
   * quiet then (rates 0, no latency in the window, so time changes nothing), and every traced process alive
   * (`isAlive`; one that exited must go from the report).
   */
  isUnchanged(now: Date, hostLines: string, isAlive: (pid: number) => boolean): boolean;
  /** Records the report just built at `now` (after any process it dropped). */
  built(now: Date, hostLines: string): void;
  /** Forgets the last build: core dropped it (a warm-up), or it must not be relied on. */
  forget(): void;
}

/** Creates an {@link UnchangedCheck} over `stats`. */
export function createUnchangedCheck(stats: HttpStats): UnchangedCheck {
  let last: { atMs: number; hostLines: string; version: number } | undefined;
  return {
    isUnchanged(now, hostLines, isAlive) {
      if (!last || last.hostLines !== hostLines || last.version !== stats.version()) return false;
      // Built while rates or latency were still moving with time: the next report differs even without traffic.
      if (last.atMs < stats.quietFromMs() || now.getTime() < last.atMs) return false;
      for (const pid of stats.pids()) if (!isAlive(pid)) return false;
      return true;
    },
    built(now, hostLines) {
      last = { atMs: now.getTime(), hostLines, version: stats.version() };
    },
    forget() {
      last = undefined;
    },
  };
}
