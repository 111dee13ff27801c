import { hostNodeId, type Report } from '@scope-plugins/core';
import { requestPlugin, startTestPlugin, type TestPlugin } from '@scope-plugins/core/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { IOWAIT_METRIC, plugin } from '../src/index.js';

// iowait under the idle rule (core README): the first report after a pause must not carry, as a graph
// point, a share averaged over the whole pause. Real /proc/stat.

const HOST_ID = 'test-host';
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
let running: TestPlugin | undefined;
afterEach(async () => {
  await running?.stop();
  running = undefined;
});

const sampleDates = (report: Report) => (report.Host?.nodes?.[hostNodeId(HOST_ID)]?.metrics?.[IOWAIT_METRIC]?.samples ?? []).map((s) => Date.parse(s.date));

describe('iowait and the idle rule', () => {
  it('after a pause, the next points of the graph each span one interval: no point averages the pause', { timeout: 30_000 }, async () => {
    running = await startTestPlugin(plugin, { hostId: HOST_ID, intervalMs: 200, idleAfterMs: 400, idleIntervalMs: 60_000, options: { diskInfo: false } });
    await running.waitForReport((r) => sampleDates(r).length >= 2);
    // Stop polling: idle after 400 ms, then no collection for the rest of the pause.
    for (let i = 0; i < 100 && !running.running.health().idle; i++) await sleep(100);
    expect(running.running.health().idle).toBe(true);
    await sleep(1500);
    const wakeAt = Date.now();
    const first = await requestPlugin(running.socketPath, { path: '/report', timeoutMs: 500 });
    expect(first.ok).toBe(true);
    const pauseStartedBefore = Math.max(...sampleDates(JSON.parse(first.ok ? first.body : '{}') as Report));
    const after = await running.waitForReport((r) => sampleDates(r).filter((d) => d > wakeAt).length >= 2, 10_000);
    const newPoints = sampleDates(after).filter((d) => d > pauseStartedBefore);
    // The wake-up read only moved the baseline (no point); the first point comes one interval later.
    expect(newPoints.length).toBeGreaterThanOrEqual(2);
    expect(newPoints[0]! - wakeAt).toBeGreaterThanOrEqual(100);
  });
});
