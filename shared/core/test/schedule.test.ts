import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createLogger } from '../src/index.js';
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
    await vi.advanceTimersByTimeAsync(8000 - Date.now());
    // The timer takes over 1.25 intervals after the last poll-driven collection, then every interval.
    expect(at.slice(locked)).toEqual([3850, 4850, 5850, 6850, 7850]);
    schedule.touch();
    await vi.advanceTimersByTimeAsync(0);
    expect(at.at(-1)).toBe(7850);
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
