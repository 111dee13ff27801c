import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createLogger, heartbeatPeriodMs, onHeartbeat } from '../src/index.js';
import { startCollectionSchedule, type CollectionSchedule } from '../src/plugin/schedule.js';

// The schedule's own clock rules, on a fake clock (the plugin runtime around it is tested on real sockets).
const quiet = createLogger({ level: 'silent' });
let schedule: CollectionSchedule | undefined;

beforeEach(() => {
  vi.useFakeTimers({ now: 0 });
});
afterEach(() => {
  schedule?.stop();
  schedule = undefined;
  vi.useRealTimers();
});

/** A collector recording when each collection started. */
function recorder() {
  const at: number[] = [];
  return { at, collector: { busy: false, collect: async () => void at.push(Date.now()), recordSkippedTick: () => undefined } };
}

/** Polls (touch with align, as GET /report does) at `phase` + k * `period` until `until`, advancing the clock. */
async function pollEvery(s: CollectionSchedule, period: number, phase: number, until: number): Promise<void> {
  for (let t = phase; t <= until; t += period) {
    await vi.advanceTimersByTimeAsync(t - Date.now());
    s.touch({ align: true });
    await vi.advanceTimersByTimeAsync(0);
  }
}

describe('collection schedule aligned with the reader', () => {
  it('locks on to polls that come once an interval: each collection starts right after a poll, and the timer never fires', async () => {
    const { at, collector } = recorder();
    schedule = startCollectionSchedule(collector, { intervalMs: 1000, idleAfterMs: 0, log: quiet });
    await pollEvery(schedule, 1000, 600, 10_600);
    // Start-up collection at 0, then one right after each poll: the first poll came half an interval or more after it.
    expect(at).toEqual([0, 600, 1600, 2600, 3600, 4600, 5600, 6600, 7600, 8600, 9600, 10_600]);
  });

  it('keeps collecting every interval on its own when the polls stop, and when nobody aligns (a metrics scrape)', async () => {
    const { at, collector } = recorder();
    schedule = startCollectionSchedule(collector, { intervalMs: 1000, idleAfterMs: 0, log: quiet });
    await pollEvery(schedule, 1000, 600, 2600);
    const locked = at.length;
    await vi.advanceTimersByTimeAsync(9000 - Date.now());
    // The heartbeat (every 2 intervals here) notices the polls stopped: the timer takes over between 1.25 intervals
    // after the last poll-driven collection (2600) and one beat later, then collects every interval.
    const after = at.slice(locked);
    expect(after[0]).toBeGreaterThanOrEqual(2600 + 1250);
    expect(after[0]).toBeLessThanOrEqual(2600 + 1250 + 2000);
    expect(after.slice(1).map((t, i) => t - after[i]!)).toEqual(after.slice(1).map(() => 1000));
    expect(after.at(-1)).toBeGreaterThan(9000 - 1000);
    schedule.touch();
    await vi.advanceTimersByTimeAsync(0);
    expect(at.at(-1)).toBe(after.at(-1));
  });

  it('while locked on to the polls it arms no timer of its own: nothing runs between polls but the shared heartbeat', async () => {
    const { at, collector } = recorder();
    schedule = startCollectionSchedule(collector, { intervalMs: 1000, idleAfterMs: 0, log: quiet });
    await pollEvery(schedule, 1000, 600, 2600);
    // One beat (2 s) of the heartbeat, no schedule timer: a timer pushed back at every poll would be a second one.
    expect(vi.getTimerCount()).toBe(1);
    expect(heartbeatPeriodMs()).toBe(2000);
    schedule.stop();
    expect(vi.getTimerCount()).toBe(0);
    expect(heartbeatPeriodMs()).toBe(0);
    expect(at).toEqual([0, 600, 1600, 2600]);
  });

  it('locks on too when each poll comes soon after a timer tick (the timer is pushed back once, the next poll takes over)', async () => {
    const { at, collector } = recorder();
    schedule = startCollectionSchedule(collector, { intervalMs: 1000, idleAfterMs: 0, log: quiet });
    // Timer ticks at 0, 1000, 2000 …; polls 200 ms after each.
    await pollEvery(schedule, 1000, 1200, 10_200);
    // The poll at 1200 pushes the 2000 tick to 2250; the poll at 2200 comes first and locks on.
    expect(at).toEqual([0, 1000, 2200, 3200, 4200, 5200, 6200, 7200, 8200, 9200, 10_200]);
  });

  it('a second reader polling out of phase does not add collections', async () => {
    const { at, collector } = recorder();
    schedule = startCollectionSchedule(collector, { intervalMs: 1000, idleAfterMs: 0, log: quiet });
    for (let t = 600; t <= 10_600; t += 500) {
      await vi.advanceTimersByTimeAsync(t - Date.now());
      schedule.touch({ align: true });
      await vi.advanceTimersByTimeAsync(0);
    }
    // Locked on to the first reader's polls (600, 1600, ...): the other's at 1100, 2100, ... come too soon after a collection.
    expect(at).toEqual([0, 600, 1600, 2600, 3600, 4600, 5600, 6600, 7600, 8600, 9600, 10_600]);
  });

  it('never starts a collection while the previous one is still running', async () => {
    const { at, collector } = recorder();
    schedule = startCollectionSchedule(collector, { intervalMs: 1000, idleAfterMs: 0, log: quiet });
    await vi.advanceTimersByTimeAsync(600);
    collector.busy = true;
    schedule.touch({ align: true });
    await vi.advanceTimersByTimeAsync(0);
    expect(at).toEqual([0]);
  });
});

describe('shared heartbeat', () => {
  it('runs every subscriber on one timer at the shortest period asked for, and stops when the last one leaves', async () => {
    const seen: string[] = [];
    const offA = onHeartbeat((now) => seen.push(`a@${now}`), 2000);
    const offB = onHeartbeat((now) => seen.push(`b@${now}`), 500);
    expect(vi.getTimerCount()).toBe(1);
    expect(heartbeatPeriodMs()).toBe(500);
    await vi.advanceTimersByTimeAsync(1000);
    expect(seen).toEqual(['a@500', 'b@500', 'a@1000', 'b@1000']);
    offB();
    expect(heartbeatPeriodMs()).toBe(2000);
    await vi.advanceTimersByTimeAsync(2000);
    expect(seen.slice(4)).toEqual(['a@3000']);
    offA();
    offA();
    expect(vi.getTimerCount()).toBe(0);
    expect(() => onHeartbeat(() => undefined, 0)).toThrow(TypeError);
  });

  it('a failing subscriber does not stop the others', async () => {
    const seen: number[] = [];
    const warnings: string[] = [];
    const onWarning = (w: Error) => warnings.push(w.message);
    process.on('warning', onWarning);
    const offBad = onHeartbeat(() => {
      throw new Error('boom');
    }, 100);
    const offGood = onHeartbeat((now) => seen.push(now), 100);
    await vi.advanceTimersByTimeAsync(100);
    offBad();
    offGood();
    // process.emitWarning emits on the next tick (not faked).
    await new Promise((resolve) => process.nextTick(resolve));
    process.off('warning', onWarning);
    expect(seen).toEqual([100]);
    expect(warnings).toEqual(['heartbeat duty failed: boom']);
  });
});
