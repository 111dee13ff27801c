import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, open, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { requestPlugin, startTestPlugin, type TestPlugin } from '@scope-plugins/core/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { plugin } from '../src/index.js';

// A /proc read that hangs: `<proc-root>/stat` is a FIFO nobody writes, so the read blocks (in libuv's
// thread pool) until the test writes to it. Nothing is mocked: the plugin reads a real file that blocks.

const HOST_ID = 'test-host';
let running: TestPlugin | undefined;
let root = '';
afterEach(async () => {
  await running?.stop();
  running = undefined;
  if (root) await rm(root, { recursive: true, force: true });
});

describe('a /proc read that hangs', () => {
  it('keeps answering within the probe deadline, marks the data stale with the reason, and recovers once the read returns', { timeout: 60_000 }, async () => {
    root = await mkdtemp(join(tmpdir(), 'iowait-hang-'));
    const proc = join(root, 'proc');
    await mkdir(proc);
    // /proc files report size 0, so copyFile would copy nothing: read and write.
    await writeFile(join(proc, 'stat'), await readFile('/proc/stat', 'utf8'));
    running = await startTestPlugin(plugin, { hostId: HOST_ID, intervalMs: 200, idleAfterMs: 0, options: { diskInfo: false }, procRoot: proc, sysRoot: join(root, 'sys') });
    await running.waitForReport((r) => r.Host !== undefined);
    // From now on the read of <proc-root>/stat blocks.
    await rm(join(proc, 'stat'));
    execFileSync('mkfifo', [join(proc, 'stat')]);
    const stale = await running.waitForReport((r) => (r.Plugins[0]?.description ?? '').includes('stale'), 20_000);
    expect(stale.Plugins[0]!.description).toMatch(/\(stale: \d+ collections missed: (collection took longer than 200 ms|the previous collection is still running)\)$/);
    for (let i = 0; i < 10; i++) {
      const answer = await requestPlugin(running.socketPath, { path: '/report', timeoutMs: 500 });
      expect(answer.ok && answer.statusCode).toBe(200);
    }
    // Unblock the hung read, then give the path a regular file again.
    const writer = await open(join(proc, 'stat'), 'w');
    await writer.write(await readFile('/proc/stat', 'utf8'));
    await writer.close();
    await rm(join(proc, 'stat'));
    await writeFile(join(proc, 'stat'), await readFile('/proc/stat', 'utf8'));
    const recovered = await running.waitForReport((r) => !(r.Plugins[0]?.description ?? '').includes('stale'), 20_000);
    expect(recovered.Plugins[0]!.description).not.toContain('stale');
    expect(running.logs.filter((l) => l.includes('data is stale'))).toHaveLength(1);
    expect(running.logs.filter((l) => l.includes('collection recovered'))).toHaveLength(1);
  });
});
