/**
 * One timer for the watch duties of the whole process (is our socket still there? have the polls stopped?).
 *
 * At one `/report` a second much of what a plugin costs is waking up, and every armed timer is a wake-up of
 * its own: a Node timer that is cleared or pushed back still wakes the process once at the time it was first
 * due (libuv's timer is not re-armed until then). Duties that only need to run "every few seconds" therefore
 * share one beat: a suite of four plugins wakes for all of their watches together, once per beat, instead of
 * once per watch (measured in bench/results/resources.md). A subscriber says how long it may wait at most;
 * the beat runs at the shortest of those (so a test with a 100 ms interval gets a 200 ms beat), and every
 * subscriber runs on every beat and decides itself whether it has anything to do.
 *
 * The timer is unref'd: watches alone never keep a process alive.
 */

/** Default longest wait between beats. */
export const HEARTBEAT_MS = 2000;

type Beat = (now: number) => void;

const subscribers = new Map<Beat, number>();
let timer: NodeJS.Timeout | undefined;
let periodMs = 0;

function beat(): void {
  const now = Date.now();
  // A copy: a subscriber may unsubscribe (itself or another) while the beat runs.
  for (const fn of [...subscribers.keys()]) {
    if (!subscribers.has(fn)) continue;
    try {
      fn(now);
    } catch (error) {
      // A duty's own failure must not stop the others' (nor throw out of the timer: that would end the process).
      process.emitWarning(`heartbeat duty failed: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
}

function rearm(): void {
  const wanted = subscribers.size === 0 ? 0 : Math.min(...subscribers.values());
  if (wanted === periodMs) return;
  if (timer) clearInterval(timer);
  timer = undefined;
  periodMs = wanted;
  if (wanted === 0) return;
  timer = setInterval(beat, wanted);
  timer.unref();
}

/**
 * Runs `fn` on every beat; the beat comes at least every `maxWaitMs` (default {@link HEARTBEAT_MS}).
 * Returns the function that unsubscribes (idempotent).
 */
export function onHeartbeat(fn: Beat, maxWaitMs: number = HEARTBEAT_MS): () => void {
  if (!(maxWaitMs > 0) || !Number.isFinite(maxWaitMs)) throw new TypeError(`maxWaitMs must be a positive number, got ${String(maxWaitMs)}`);
  subscribers.set(fn, Math.max(1, Math.round(maxWaitMs)));
  rearm();
  return () => {
    if (!subscribers.delete(fn)) return;
    rearm();
  };
}

/** The current beat period in ms (0 when nobody subscribed); for tests and diagnostics. */
export function heartbeatPeriodMs(): number {
  return periodMs;
}
