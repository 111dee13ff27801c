import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { UNCHANGED, createReport, type ReportTopologies } from '@scope-plugins/core';
import { collectHttpStats } from '../src/collect.js';
import { createExcluder, parseExcludeOption, type Excluder } from '../src/exclude.js';
import type { TracerEvent } from '../src/parse.js';
import { createHttpStats, type HttpStats } from '../src/stats.js';
import type { TracerStatus } from '../src/tracer.js';
import { createUnchangedCheck } from '../src/unchanged.js';

const T0 = Date.parse('2026-11-22T03:00:00.000Z');
const at = (s: number) => new Date(T0 + s * 1000);

const dirs: string[] = [];
afterEach(async () => {
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
});

function traffic(pids: number[]): TracerEvent[] {
  return [
    { kind: 'requests', entries: pids.map((pid) => ({ pid, method: 'GET', count: 3 })) },
    { kind: 'responses', entries: pids.map((pid) => ({ pid, status: 200, count: 3 })) },
    { kind: 'latency', entries: pids.map((pid) => ({ pid, bucketUs: 320, count: 3 })) },
  ];
}

/**
 * Two plugins fed the same events and processes: one may say UNCHANGED, the other always builds. Whenever the
 * first says UNCHANGED, the second's fresh report must be the first's last report with only its time moved on.
 */
async function twins(exclude?: string) {
  const procRoot = await mkdtemp(join(tmpdir(), 'hs-unchanged-'));
  dirs.push(procRoot);
  const windows = { rateWindowMs: 2000, latencyWindowMs: 3000 };
  const checked = createHttpStats(windows);
  const always = createHttpStats(windows);
  const unchanged = createUnchangedCheck(checked);
  const excluders: Excluder[] = [0, 1].map(() => createExcluder(procRoot, exclude === undefined ? undefined : parseExcludeOption(exclude)));
  let tracer: TracerStatus = { state: 'running', pid: 99, starts: 1 };
  let last: { body: string; stamp: string } | undefined;
  const both = (f: (stats: HttpStats) => void) => [checked, always].forEach(f);
  both((s) => s.markStarted(at(0)));
  return {
    procRoot,
    feed: (events: TracerEvent[], second: number) => both((s) => events.forEach((e) => s.add(e, at(second)))),
    setTracer: (status: TracerStatus) => (tracer = status),
    /** Process nodes of the last report built. */
    shown: () => Object.keys((JSON.parse(last!.body) as ReportTopologies).Process?.nodes ?? {}).sort(),
    /** Collects with both at `second`: 'built' or 'unchanged', after checking an UNCHANGED against a fresh build. */
    async collect(second: number): Promise<'built' | 'unchanged'> {
      const now = at(second);
      const fresh = createReport(now);
      await collectHttpStats(fresh, 'h', now, { procRoot, stats: always, tracerStatus: () => tracer, excluder: excluders[0]! });
      const body = JSON.stringify(fresh.build() satisfies ReportTopologies);
      const report = createReport(now);
      const result = await collectHttpStats(report, 'h', now, { procRoot, stats: checked, tracerStatus: () => tracer, excluder: excluders[1]!, unchanged });
      if (result === UNCHANGED) {
        expect(report.build()).toEqual({});
        // What core serves for UNCHANGED: the last body with that collection's time replaced by this one's.
        expect(body).toBe(last!.body.replaceAll(last!.stamp, now.toISOString()));
        return 'unchanged';
      }
      expect(JSON.stringify(report.build())).toBe(body);
      last = { body, stamp: now.toISOString() };
      return 'built';
    },
  };
}

describe('UNCHANGED (collectHttpStats with an unchanged check)', () => {
  it('is said only once the counts are quiet, and never when a count, a process or the tracer changed', async () => {
    const t = await twins();
    for (const pid of [42, 43]) await mkdir(join(t.procRoot, String(pid)));
    const results: string[] = [];
    const step = async (second: number) => results.push(`${second}:${await t.collect(second)}`);
    t.feed(traffic([42, 43]), 1);
    // Rates fall for 2 s and latency leaves its 3 s window: every second until 4 builds; 4 is the first quiet build.
    for (const s of [1, 2, 3, 4, 5, 6]) await step(s);
    // A process exits: its node goes.
    await rm(join(t.procRoot, '43'), { recursive: true });
    for (const s of [7, 8]) await step(s);
    // New counts: built until quiet again (latency window: 3 s after the counts at 9).
    t.feed(traffic([42]), 9);
    for (const s of [9, 10, 11, 12, 13]) await step(s);
    // The tracer restarts: the host line changes (and counting restarted).
    t.setTracer({ state: 'running', pid: 100, starts: 2 });
    for (const s of [14, 15]) await step(s);
    expect(results).toEqual([
      '1:built', '2:built', '3:built', '4:built', '5:unchanged', '6:unchanged',
      '7:built', '8:unchanged',
      '9:built', '10:built', '11:built', '12:built', '13:unchanged',
      '14:built', '15:unchanged',
    ]);
  });

  it('is said while an excluded process keeps serving, and counts its pid again once it exited', async () => {
    const t = await twins('dockerd');
    const spawn = async (pid: number, comm: string) => {
      await mkdir(join(t.procRoot, String(pid)));
      await writeFile(join(t.procRoot, String(pid), 'comm'), `${comm}\n`);
    };
    await spawn(42, 'python3');
    await spawn(77, 'dockerd');
    const results: string[] = [];
    t.feed(traffic([42, 77]), 1);
    for (const s of [1, 2, 3, 4]) results.push(`${s}:${await t.collect(s)}`);
    // dockerd (excluded) serves every second: not shown, and not a change.
    for (const s of [5, 6, 7]) {
      t.feed(traffic([77]), s);
      results.push(`${s}:${await t.collect(s)}`);
    }
    expect(t.shown()).toEqual(['h;42']);
    // It exits and its pid comes back as another program: that one's counts show.
    await rm(join(t.procRoot, '77'), { recursive: true });
    results.push(`8:${await t.collect(8)}`);
    await spawn(77, 'nginx');
    t.feed(traffic([77]), 9);
    results.push(`9:${await t.collect(9)}`);
    expect(t.shown()).toEqual(['h;42', 'h;77']);
    expect(results).toEqual(['1:built', '2:built', '3:built', '4:built', '5:unchanged', '6:unchanged', '7:unchanged', '8:unchanged', '9:built']);
  });

  it('is never said before a report was built, and not for the report of a forgotten build', async () => {
    const stats = createHttpStats();
    const check = createUnchangedCheck(stats);
    expect(check.isUnchanged(at(1), 'x', () => true)).toBe(false);
    check.built(at(1), 'x');
    expect(check.isUnchanged(at(2), 'x', () => true)).toBe(true);
    expect(check.isUnchanged(at(2), 'y', () => true)).toBe(false);
    check.forget();
    expect(check.isUnchanged(at(3), 'x', () => true)).toBe(false);
  });
});
