import { spawn, spawnSync } from 'node:child_process';
import { chmod, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hostNodeId } from '@scope-plugins/core';
import { requestPlugin, requireComponent, startTestPlugin, type TestPlugin } from '@scope-plugins/core/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { TABLE_PREFIX, plugin } from '../src/index.js';
import { readNamespacesFromProc } from '../src/collect.js';

// Faults of the namespace sources, on the real host: lsns hanging (then working again), and processes
// exiting while /proc is walked.

const HOST = 'test-host';
const LSNS = spawnSync('sh', ['-c', 'command -v lsns']).stdout.toString().trim();
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

let test: TestPlugin | undefined;
let cleanups: Array<() => Promise<unknown> | unknown> = [];
afterEach(async () => {
  await test?.stop();
  test = undefined;
  for (const c of cleanups.reverse()) await c();
  cleanups = [];
});

/** Processes whose command line is exactly `sleep <marker>`. */
async function countSleeps(marker: string): Promise<number> {
  let n = 0;
  for (const pid of (await readdir('/proc')).filter((p) => /^\d+$/.test(p))) {
    const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
    if (cmdline === `sleep\0${marker}\0`) n++;
  }
  return n;
}

const tableRows = (report: { Host?: { nodes?: Record<string, { latest?: Record<string, unknown> }> } }) =>
  Object.keys(report.Host?.nodes?.[hostNodeId(HOST)]?.latest ?? {}).filter((k) => k.startsWith(TABLE_PREFIX)).length;

describe('lsns hanging', () => {
  it('a hanging lsns is killed at the collection deadline (never piling up), the data goes stale with the reason, and it recovers when lsns works again', { timeout: 60_000 }, async (ctx) => {
    requireComponent(ctx, 'lsns (util-linux)', LSNS !== '', 'apt-get install -y util-linux');
    // A fake lsns first on PATH: hangs while the mode file says so, else runs the real one.
    const bin = await mkdtemp(join(tmpdir(), 'hn-lsns-'));
    cleanups.push(() => rm(bin, { recursive: true, force: true }));
    const marker = String(3_000_000 + (process.pid % 100_000));
    await writeFile(join(bin, 'mode'), 'hang');
    await writeFile(join(bin, 'lsns'), `#!/bin/sh\nif [ "$(cat ${join(bin, 'mode')})" = hang ]; then exec sleep ${marker}; fi\nexec ${LSNS} "$@"\n`);
    await chmod(join(bin, 'lsns'), 0o755);
    const path = process.env['PATH'];
    process.env['PATH'] = `${bin}:${path}`;
    cleanups.push(() => (process.env['PATH'] = path));

    test = await startTestPlugin(plugin, { hostId: HOST, intervalMs: 300, idleAfterMs: 0, options: { docker: false, source: 'lsns' } });
    const stale = await test.waitForReport((r) => (r.Plugins[0]?.description ?? '').includes('stale'), 20_000);
    expect(stale.Plugins[0]!.description).toMatch(/stale: \d+ collections missed: collection took longer than 300 ms/);
    // The socket answers within the probe's deadline all along, and hung lsns processes never pile up.
    let most = 0;
    for (let i = 0; i < 10; i++) {
      const answer = await requestPlugin(test.socketPath, { path: '/report', timeoutMs: 500 });
      expect(answer.ok && answer.statusCode).toBe(200);
      most = Math.max(most, await countSleeps(marker));
      await sleep(100);
    }
    expect(most).toBeLessThanOrEqual(1);

    await writeFile(join(bin, 'mode'), 'ok');
    const recovered = await test.waitForReport((r) => !(r.Plugins[0]?.description ?? 'stale').includes('stale') && tableRows(r) > 0, 20_000);
    expect(recovered.Plugins[0]!.description).not.toContain('stale');
    expect(test.logs.filter((l) => l.includes('collection recovered'))).toHaveLength(1);
    await sleep(500);
    expect(await countSleeps(marker)).toBe(0);
  });
});

describe('processes exiting mid-scan', () => {
  it('the /proc walk never fails while hundreds of processes start and exit around it, and counts the ones it skipped', { timeout: 60_000 }, async () => {
    // Churn: short-lived processes, many alive at any moment, each gone a few ms later.
    const churn = spawn('sh', ['-c', 'while :; do for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do sleep 0.0$i & done; wait; done'], { stdio: 'ignore', detached: true });
    cleanups.push(() => {
      try {
        process.kill(-churn.pid!, 'SIGKILL');
      } catch {
        // Already gone.
      }
    });
    await sleep(300);
    let skipped = 0;
    const deadline = Date.now() + 5000;
    let scans = 0;
    while (Date.now() < deadline) {
      // Small batches: more yields, more chances for a process to exit between listing and reading.
      const scan = await readNamespacesFromProc('/proc', { batchSize: 4 });
      expect(scan.processes).toBeGreaterThan(0);
      expect(scan.namespaces.length).toBeGreaterThan(0);
      for (const ns of scan.namespaces) expect(ns.nprocs).toBeGreaterThan(0);
      skipped += scan.skipped;
      scans++;
    }
    process.stdout.write(`processes exiting mid-scan: ${scans} scans, ${skipped} processes gone between listing and reading (skipped)\n`);
    expect(scans).toBeGreaterThan(3);
    // The churn really did race the walk (hundreds per run here); a walk that threw on them would have failed above.
    expect(skipped).toBeGreaterThan(0);
  });
});
