import { afterEach, describe, expect, it } from 'vitest';
import { createSharedScope, definePlugin, hostNodeId, sharedResourceHolds } from '../src/index.js';
import { startTestPlugin, type TestPlugin } from '../src/testing/index.js';

/** A resource that records how often it was made and closed. */
function counted(log: string[], name: string) {
  log.push(`create ${name}`);
  return { name, close: () => void log.push(`close ${name}`) };
}

describe('shared resources', () => {
  it('hands every holder of a key the same resource and closes it when the last hold is released', async () => {
    const log: string[] = [];
    const a = createSharedScope();
    const b = createSharedScope();
    const first = a.acquire('test:one', () => counted(log, 'one'));
    const second = b.acquire('test:one', () => counted(log, 'again'));
    expect(second.value).toBe(first.value);
    expect([first.created, second.created]).toEqual([true, false]);
    expect(sharedResourceHolds().get('test:one')).toBe(2);
    await a.releaseAll();
    await a.releaseAll();
    expect(log).toEqual(['create one']);
    await second.release();
    expect(log).toEqual(['create one', 'close one']);
    expect(sharedResourceHolds().has('test:one')).toBe(false);
    // A new hold after the close makes a fresh resource.
    const third = a.acquire('test:one', () => counted(log, 'fresh'));
    expect(third.value.name).toBe('fresh');
    await third.release();
  });

  describe('through the plugin context', () => {
    const tests: TestPlugin[] = [];
    afterEach(async () => {
      await Promise.all(tests.splice(0).map((t) => t.stop()));
    });

    const plugin = (id: string, log: string[], fail = false) =>
      definePlugin({
        id,
        label: id,
        description: 'holds a shared clock',
        intervalMs: 100,
        create(ctx) {
          const clock = ctx.shared('test:clock', () => counted(log, `clock by ${id}`));
          if (fail) throw new Error('create failed after acquiring');
          return { collect: ({ report, hostId }) => void report.topology('Host').node(hostNodeId(hostId)).latest(`${id.replace(/-/g, '_')}_clock`, clock.value.name) };
        },
      });

    it('two plugin instances share one resource; it closes when the last one stops', async () => {
      const log: string[] = [];
      tests.push(await startTestPlugin(plugin('holder-a', log), { hostId: 'h' }));
      tests.push(await startTestPlugin(plugin('holder-b', log), { hostId: 'h' }));
      const report = await tests[1]!.waitForReport((r) => r.Host?.nodes?.['h;<host>'] !== undefined);
      expect(report.Host!.nodes!['h;<host>']!.latest!['holder_b_clock']?.value).toBe('clock by holder-a');
      expect(sharedResourceHolds().get('test:clock')).toBe(2);
      await tests.shift()!.stop();
      expect(log).toEqual(['create clock by holder-a']);
      await tests.shift()!.stop();
      expect(log).toEqual(['create clock by holder-a', 'close clock by holder-a']);
    });

    it('a create() that fails releases what it acquired', async () => {
      const log: string[] = [];
      tests.push(await startTestPlugin(plugin('failing', log, true), { hostId: 'h' }));
      expect(log).toEqual(['create clock by failing', 'close clock by failing']);
      expect(sharedResourceHolds().has('test:clock')).toBe(false);
    });
  });
});
