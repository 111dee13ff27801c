/**
 * When a plugin collects: every interval while someone reads `/report`, much less often when nobody
 * does (the Scope probe is not running), and at once again on the next `/report`.
 *
 * The idle rule: after `idleAfterMs` without a `GET /report` the plugin collects only every
 * `idleIntervalMs` (those reports are served as usual, each with its own timestamps). The first
 * `/report` after the pause is answered at once from the last snapshot (its timestamps say how old it
 * is) and wakes the schedule. A rate-based plugin (one that declares `onceCollects > 1`: its first
 * collection only sets a baseline) would otherwise publish, as its newest value, a rate averaged over
 * the whole idle interval: on wake it first runs one warm-up collection that is not published (it moves
 * the plugin's baseline to now), and publishes the next one, one interval later, which covers one
 * interval as always. Other plugins collect and publish at once.
 *
 * Aligned with the reader: at 1 Hz much of a plugin's cost is waking up (cold caches, timers), not the
 * collection itself. So a `/report` can start the due collection at once, right after its answer is
 * written, in the same wake-up. A poll takes over from the timer when the last collection is at least half
 * an interval old (once, to lock on; a poll that comes sooner after a timer tick pushes the timer back to
 * 1.25 intervals after that tick, so that the next poll locks on), and keeps the lock while polls come at
 * least 0.75 intervals apart;
 * a second reader polling out of phase does not double the collections. While locked no timer of the
 * schedule's own is armed (a timer pushed back at every poll would still wake the process once per poll,
 * at the time it was first due): the process's shared heartbeat (util/heartbeat.ts, at least every
 * 2 intervals and at most every 2 s) notices when the polls stopped, 1.25 intervals after the last
 * poll-driven collection or up to one beat later, and the timer takes over again. The answer carries the
 * collection made after the previous poll, one interval old.
 */
import type { Logger } from '../log.js';
import { HEARTBEAT_MS, onHeartbeat } from '../util/heartbeat.js';

/** Default of {@link ScheduleOptions.idleAfterMs}. */
export const IDLE_AFTER_MS = 30_000;
/** Default of {@link ScheduleOptions.idleIntervalMs}. */
export const IDLE_INTERVAL_MS = 60_000;

/** What the schedule drives. */
export interface Collecting {
  readonly busy: boolean;
  collect(options?: { publish?: boolean }): Promise<void>;
  recordSkippedTick(): void;
}

/** Options of {@link startCollectionSchedule}. */
export interface ScheduleOptions {
  intervalMs: number;
  /** No `/report` for this long makes the plugin idle; 0 never idles. @default IDLE_AFTER_MS */
  idleAfterMs?: number;
  /** Collection interval while idle. @default IDLE_INTERVAL_MS */
  idleIntervalMs?: number;
  /** Unpublished collections on wake before the schedule resumes (1 for rate-based plugins). @default 0 */
  warmupCollects?: number;
  log: Logger;
}

/** A running collection schedule. */
export interface CollectionSchedule {
  /** True while no client asked for `/report` for `idleAfterMs`. */
  readonly idle: boolean;
  /**
   * Records a `/report` request: keeps the schedule active, or wakes it. With `align`, a collection due
   * within a quarter interval starts right after the caller's answer (same wake-up).
   */
  touch(options?: { align?: boolean }): void;
  stop(): void;
}

/** Starts collecting now and then on the schedule described above. */
export function startCollectionSchedule(collector: Collecting, options: ScheduleOptions): CollectionSchedule {
  const { intervalMs, log } = options;
  const idleAfterMs = options.idleAfterMs ?? IDLE_AFTER_MS;
  const idleIntervalMs = Math.max(options.idleIntervalMs ?? IDLE_INTERVAL_MS, intervalMs);
  const warmupCollects = options.warmupCollects ?? 0;
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  let idle = false;
  let waking = false;
  let lastReportAt = Date.now();
  let lastTickAt = 0;
  /** True while collections follow the polls (the last tick was started by one). */
  let locked = false;
  let aligned: NodeJS.Immediate | undefined;
  /** Unsubscribes the heartbeat watch that runs while locked. */
  let unwatch: (() => void) | undefined;
  /** True once a poll pushed the timer back since the last tick (see touch). */
  let pushed = false;

  /** On the heartbeat while locked: the timer takes over once the polls stopped. */
  const watch = (now: number) => {
    if (stopped || !locked || aligned || now - lastTickAt < intervalMs * 1.25) return;
    tick();
  };

  const tick = (byPoll = false) => {
    aligned = undefined;
    if (stopped) return;
    lastTickAt = Date.now();
    locked = byPoll;
    pushed = false;
    clearTimeout(timer);
    timer = undefined;
    if (byPoll) {
      unwatch ??= onHeartbeat(watch, Math.min(HEARTBEAT_MS, intervalMs * 2));
    } else {
      unwatch?.();
      unwatch = undefined;
      if (!idle && idleAfterMs > 0 && Date.now() - lastReportAt >= idleAfterMs) {
        idle = true;
        log.info('no client asked for /report for a while; collecting less often until one does', { idle_after_ms: idleAfterMs, idle_interval_ms: idleIntervalMs });
      }
      timer = setTimeout(tick, idle ? idleIntervalMs : intervalMs);
    }
    if (collector.busy) collector.recordSkippedTick();
    else void collector.collect();
  };

  const wake = async () => {
    waking = true;
    clearTimeout(timer);
    log.info('a client asked for /report again; collecting every interval', { warmup_collects: warmupCollects });
    try {
      for (let i = 0; i < warmupCollects && !stopped; i++) await collector.collect({ publish: false });
    } finally {
      waking = false;
    }
    if (stopped) return;
    // After a warm-up the baseline is now: the next (published) collection spans one interval.
    if (warmupCollects > 0) timer = setTimeout(tick, intervalMs);
    else tick();
    lastTickAt = Date.now();
  };

  // First collection right away so the first poll already has data.
  tick();
  return {
    get idle() {
      return idle;
    },
    touch(touchOptions) {
      lastReportAt = Date.now();
      if (idle && !waking) {
        idle = false;
        void wake();
        return;
      }
      if (!touchOptions?.align || waking || aligned || stopped || collector.busy) return;
      if (lastReportAt - lastTickAt < intervalMs * (locked ? 0.75 : 0.5)) {
        // A poll soon after a timer tick would never lock on (the timer keeps ticking just before each poll):
        // push the timer back once, so that the next poll, about an interval later, comes first and collects.
        if (!locked && timer && !pushed) {
          pushed = true;
          clearTimeout(timer);
          timer = setTimeout(tick, Math.max(0, lastTickAt + intervalMs * 1.25 - Date.now()));
        }
        return;
      }
      // setImmediate: after the I/O callbacks of this loop turn, so the answer is written first.
      aligned = setImmediate(() => tick(true));
    },
    stop() {
      stopped = true;
      clearTimeout(timer);
      unwatch?.();
      unwatch = undefined;
      if (aligned) clearImmediate(aligned);
    },
  };
}
