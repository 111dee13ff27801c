import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { requestPlugin, startTestPlugin, type TestPlugin } from '@scope-plugins/core/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { plugin } from '../src/index.js';
import { fifoHasReader } from './helpers.js';

// A /proc file whose read would block: `<proc-root>/stat` becomes a FIFO nobody writes. The plugin reads
// synchronously, so it must refuse such a file before reading it (a blocking read would stall the event
// loop and with it every /report). Nothing is mocked: the plugin meets a real FIFO.

const HOST_ID = 'test-host';
let running: TestPlugin | undefined;
let root = '';
afterEach(async () => {
  await running?.stop();
  running = undefined;
  if (root) await rm(root, { recursive: true, force: true });
});

describe('a /proc file that could block (a FIFO)', () => {
  it('is refused at once without being held open; the plugin keeps answering, marks the data stale with the reason, and recovers once the file is back', { timeout: 60_000 }, async () => {
    root = await mkdtemp(join(tmpdir(), 'iowait-fifo-'));
    const proc = join(root, 'proc');
    const stat = join(proc, 'stat');
    await mkdir(proc);
    // /proc files report size 0, so copyFile would copy nothing: read and write.
    await writeFile(stat, await readFile('/proc/stat', 'utf8'));
    running = await startTestPlugin(plugin, { hostId: HOST_ID, intervalMs: 200, idleAfterMs: 0, options: { diskInfo: false }, procRoot: proc, sysRoot: join(root, 'sys') });
    await running.waitForReport((r) => r.Host !== undefined);
    // From now on a read of <proc-root>/stat would block until somebody writes to the FIFO.
    await rm(stat);
    execFileSync('mkfifo', [stat]);
    const stale = await running.waitForReport((r) => (r.Plugins[0]?.description ?? '').includes('stale'), 20_000);
    // The reason is the refusal, not a timed-out or still-running collection: nothing waited on the FIFO.
    expect(stale.Plugins[0]!.description).toMatch(/\(stale: \d+ collections missed: cannot read \S+\/proc\/stat \(is --proc-root right\?[^)]*\): \S+\/proc\/stat is a FIFO, not a regular file: refused \(a read could block\)\)$/);
    expect(running.logs.some((l) => l.includes('took longer') || l.includes('still running'))).toBe(false);
    for (let i = 0; i < 10; i++) {
      const answer = await requestPlugin(running.socketPath, { path: '/report', timeoutMs: 500 });
      expect(answer.ok && answer.statusCode).toBe(200);
      // Collections keep refusing it (every 200 ms) and never keep it open.
      expect(fifoHasReader(stat)).toBe(false);
    }
    // The path becomes a regular file again.
    await rm(stat);
    await writeFile(stat, await readFile('/proc/stat', 'utf8'));
    const recovered = await running.waitForReport((r) => !(r.Plugins[0]?.description ?? '').includes('stale'), 20_000);
    expect(recovered.Plugins[0]!.description).not.toContain('stale');
    expect(running.logs.filter((l) => l.includes('data is stale'))).toHaveLength(1);
    expect(running.logs.filter((l) => l.includes('collection recovered'))).toHaveLength(1);
  });
});
