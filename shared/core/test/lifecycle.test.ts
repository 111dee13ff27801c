import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { definePlugin, hostNodeId, pluginSocketPath, type Report } from '../src/index.js';
import { requestPlugin, startTestPlugin, type TestPlugin } from '../src/testing/index.js';

const FAULTY_SUITE = new URL('./fixtures/faulty-suite.mjs', import.meta.url).pathname;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const isAlive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

let cleanups: Array<() => Promise<unknown> | unknown> = [];
afterEach(async () => {
  await Promise.allSettled(cleanups.map((c) => c()));
  cleanups = [];
});

async function started(plugin: Parameters<typeof startTestPlugin>[0], options: Parameters<typeof startTestPlugin>[1] = {}): Promise<TestPlugin> {
  const p = await startTestPlugin(plugin, { hostId: 'h', ...options });
  cleanups.push(() => p.stop());
  return p;
}

async function poll(socketPath: string): Promise<Report> {
  const answer = await requestPlugin(socketPath, { path: '/report', timeoutMs: 500 });
  if (!answer.ok) throw new Error(`poll of ${socketPath} failed: ${answer.error}`);
  return JSON.parse(answer.body) as Report;
}

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

describe('create retries', () => {
  it('a plugin whose create() fails keeps retrying at the injected interval and says so once', async () => {
    let attempts = 0;
    const plugin = definePlugin({
      id: 'toolless',
      label: 'Toolless',
      description: 'needs a tool',
      intervalMs: 50,
      create: () => {
        attempts++;
        throw new Error('frobnicate not found: apt-get install frobnicate');
      },
    });
    const p = await started(plugin, { createRetryMs: 100 });
    // Past two retries: the attempts happened, the line did not repeat.
    await until('three create attempts', async () => (attempts >= 3 ? true : undefined));
    expect(p.logs.filter((l) => l.includes('plugin cannot start'))).toHaveLength(1);
    expect(p.running.health()).toMatchObject({ state: 'not-running', lastError: 'frobnicate not found: apt-get install frobnicate' });
    expect((await p.report()).Plugins[0]!.description).toBe('needs a tool (not running: frobnicate not found: apt-get install frobnicate)');
  });

  it('a create() that succeeds on a later attempt serves data and says it started', async () => {
    let attempts = 0;
    const plugin = definePlugin({
      id: 'late',
      label: 'Late',
      description: 'starts on the third try',
      intervalMs: 50,
      create: () => {
        if (++attempts < 3) throw new Error('not yet');
        return { collect: ({ report, hostId }) => void report.topology('Host').node(hostNodeId(hostId)).latest('late_ok', 'yes') };
      },
    });
    const p = await started(plugin, { createRetryMs: 100 });
    const report = await p.waitForReport((r) => r.Host?.nodes?.['h;<host>'] !== undefined);
    expect(report.Plugins[0]!.description).toBe('starts on the third try');
    expect(p.running.health().state).toBe('running');
    expect(p.logs.filter((l) => l.includes('plugin started after earlier failure'))).toHaveLength(1);
  });
});

describe('resources are owned by the runtime', () => {
  it('stopping a plugin kills the children and clears the timers its instance forgot to release', async () => {
    let childPid = 0;
    let ticks = 0;
    const plugin = definePlugin({
      id: 'leaky',
      label: 'Leaky',
      description: 'forgets to clean up',
      intervalMs: 100,
      create: () => {
        childPid = spawn('sleep', ['1000'], { stdio: 'ignore' }).pid!;
        setInterval(() => ticks++, 20);
        return { collect: () => undefined, close: () => undefined };
      },
    });
    const p = await startTestPlugin(plugin, { hostId: 'h' });
    expect(p.running.health().state).toBe('running');
    await until('the leaked interval ticking', async () => (ticks > 2 ? true : undefined));
    expect(isAlive(childPid)).toBe(true);
    await p.stop();
    await until('the leaked child to die', async () => (isAlive(childPid) ? undefined : true), 5000);
    const after = ticks;
    await sleep(100);
    expect(ticks).toBe(after);
  });
});

describe('fault isolation in one process (spawned, as the suite runs)', () => {
  let child: ChildProcess | undefined;
  let stderr = '';
  let root = '';

  async function startSuite(): Promise<{ good: string; faulty: string }> {
    root = await mkdtemp(join(tmpdir(), 'sp-fi-'));
    stderr = '';
    child = spawn(process.execPath, [FAULTY_SUITE, root], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, SCOPE_HOSTNAME: 'h' } });
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const proc = child;
    cleanups.push(async () => {
      if (proc.exitCode === null && proc.signalCode === null) {
        proc.kill('SIGKILL');
        await new Promise((resolve) => proc.once('close', resolve));
      }
      await rm(root, { recursive: true, force: true });
    });
    const sockets = { good: pluginSocketPath(root, 'good'), faulty: pluginSocketPath(root, 'faulty') };
    await until('both plugins serving data', async () => ((await poll(sockets.good)).Host && (await poll(sockets.faulty)).Host ? true : undefined));
    return sockets;
  }

  const node = (report: Report) => report.Host?.nodes?.['h;<host>']?.latest ?? {};

  it('an error from each kind of plugin callback fails only that plugin: the other keeps answering, the instance is torn down with its resources and recreated', async () => {
    const sockets = await startSuite();
    const kinds = ['fault-timer', 'fault-emitter', 'fault-child-exit', 'fault-stream', 'fault-rejection'];
    let goodAnswers = 0;
    let goodFailures = 0;
    let watching = true;
    // The good plugin is polled all along, as the probe would.
    const watcher = (async () => {
      while (watching) {
        const answer = await requestPlugin(sockets.good, { path: '/report', timeoutMs: 500 });
        if (answer.ok && answer.statusCode === 200 && (JSON.parse(answer.body) as Report).Plugins[0]!.description === 'keeps serving') goodAnswers++;
        else goodFailures++;
        await sleep(20);
      }
    })();
    for (const [i, kind] of kinds.entries()) {
      const before = node(await poll(sockets.faulty));
      const helperPid = Number(before['faulty_helper_pid']!.value);
      expect(before['faulty_generation']!.value).toBe(String(i + 1));
      expect(isAlive(helperPid)).toBe(true);
      const answer = await requestPlugin(sockets.faulty, { method: 'POST', path: '/control', body: JSON.stringify({ AppID: 't', NodeID: 'h;<host>', Control: kind, ControlArgs: null }), timeoutMs: 500 });
      expect(answer.ok && JSON.parse(answer.body)).toMatchObject({ value: 'armed' });
      // Marked failed in its spec, with the reason.
      const failed = await until(`${kind}: faulty marked failed`, async () => {
        const r = await poll(sockets.faulty);
        return (r.Plugins[0]?.description ?? '').startsWith('fails on demand (failed: boom') ? r : undefined;
      });
      expect(failed.Plugins[0]!.description).toMatch(/\(failed: boom from .*; restarting\)$/);
      // Torn down with what it held, although its own close() released nothing.
      await until(`${kind}: helper ${helperPid} killed`, async () => (isAlive(helperPid) ? undefined : true));
      // Recreated with backoff: a new generation serves data again.
      await until(`${kind}: faulty recreated`, async () => (node(await poll(sockets.faulty))['faulty_generation']?.value === String(i + 2) ? true : undefined));
    }
    watching = false;
    await watcher;
    expect(goodFailures).toBe(0);
    expect(goodAnswers).toBeGreaterThan(10);
    expect(child!.exitCode).toBe(null);
    // Logged once per fault, each naming the plugin and the error.
    const faultLines = stderr.split('\n').filter((l) => l.includes('plugin failed: an error escaped it'));
    expect(faultLines).toHaveLength(kinds.length);
    for (const line of faultLines) expect(line).toMatch(/plugin=faulty/);
    expect(faultLines.map((l) => /kind=(\w+)/.exec(l)?.[1])).toEqual(['uncaughtException', 'uncaughtException', 'uncaughtException', 'uncaughtException', 'unhandledRejection']);
  });

  it('an error in core itself (outside every plugin) still ends the process with a clear line and no sockets left', async () => {
    const sockets = await startSuite();
    const exited = new Promise<number | null>((resolve) => child!.once('close', (code) => resolve(code)));
    await requestPlugin(sockets.faulty, { method: 'POST', path: '/control', body: JSON.stringify({ AppID: 't', NodeID: 'h;<host>', Control: 'fault-core', ControlArgs: null }), timeoutMs: 500 });
    expect(await exited).toBe(1);
    expect(stderr).toMatch(/fatal error, exiting.*boom from core/);
    expect(await requestPlugin(sockets.good, { path: '/report', timeoutMs: 500 })).toMatchObject({ ok: false });
  });
});

describe('idle rule', () => {
  it('collects much less often while nobody asks for /report, and resumes at once on the next one', async () => {
    let collects = 0;
    const plugin = definePlugin({
      id: 'counter',
      label: 'Counter',
      description: 'counts collections',
      intervalMs: 50,
      create: () => ({ collect: ({ report, hostId }) => void report.topology('Host').node(hostNodeId(hostId)).latest('counter_n', String(++collects)) }),
    });
    // Started without anyone polling: after idleAfterMs it goes idle.
    const p = await started(plugin, { idleAfterMs: 300, idleIntervalMs: 60_000 });
    await until('idle', async () => (p.running.health().idle ? true : undefined));
    const atIdle = collects;
    await sleep(600);
    // No collection in 12 intervals (at most one that was already under way).
    expect(collects - atIdle).toBeLessThanOrEqual(1);
    expect(p.logs.filter((l) => l.includes('collecting less often'))).toHaveLength(1);
    // The next /report wakes it: collections resume without waiting for the idle interval.
    await poll(p.socketPath);
    const woke = collects;
    await until('collections to resume', async () => (collects >= woke + 3 ? true : undefined), 5000);
    expect(p.running.health().idle).toBe(false);
    expect(p.logs.filter((l) => l.includes('a client asked for /report again'))).toHaveLength(1);
  });

  it('a rate-based plugin never publishes, as its newest value, a rate over the whole pause', async () => {
    let last = Date.now();
    const plugin = definePlugin({
      id: 'rate',
      label: 'Rate',
      description: 'reports the span its value covers',
      intervalMs: 100,
      // Declares it is rate-based: its first collection only sets a baseline.
      onceCollects: 2,
      create: () => ({
        collect({ report, hostId, now }) {
          const span = now.getTime() - last;
          last = now.getTime();
          report.topology('Host').node(hostNodeId(hostId)).latest('rate_span_ms', String(span));
        },
      }),
    });
    const p = await started(plugin, { idleAfterMs: 200, idleIntervalMs: 60_000 });
    await until('idle', async () => (p.running.health().idle ? true : undefined));
    const pauseStart = Date.now();
    await sleep(1500);
    const wakeAt = Date.now();
    const first = await poll(p.socketPath);
    // The answer comes at once from the last snapshot, whose timestamp says it is from before the pause.
    const firstNode = first.Host!.nodes!['h;<host>']!.latest!['rate_span_ms']!;
    expect(Date.parse(firstNode.timestamp)).toBeLessThan(pauseStart + 1);
    // Every report published after the wake covers about one interval, never the 1.5 s pause.
    const fresh = await until('a report collected after the wake', async () => {
      const r = await poll(p.socketPath);
      const v = r.Host!.nodes!['h;<host>']!.latest!['rate_span_ms']!;
      return Date.parse(v.timestamp) > wakeAt ? v : undefined;
    });
    expect(Number(fresh.value)).toBeLessThan(1000);
  });
});

describe('control answers within the probe deadline', () => {
  it('drops the shortcut report when the fresh collection would not make it in time, and /report catches up', async () => {
    let mode = 'idle';
    let slow = false;
    const plugin = definePlugin({
      id: 'sluggish',
      label: 'Sluggish',
      description: 'collects slowly after a control',
      intervalMs: 2000,
      timeoutMs: 2000,
      topologies: { Host: { controls: [{ id: 'go', human: 'Go', icon: 'fa-play', rank: 1 }] } },
      create: () => ({
        async collect({ report, hostId }) {
          if (slow) await sleep(800);
          report.topology('Host').node(hostNodeId(hostId)).latest('sluggish_mode', mode).activeControls(['go']);
        },
        control() {
          mode = 'going';
          slow = true;
          return { value: 'ok' };
        },
      }),
    });
    const p = await started(plugin, { idleAfterMs: 0 });
    await p.waitForReport((r) => r.Host?.nodes?.['h;<host>'] !== undefined);
    // The probe's own deadline: 500 ms for the whole exchange.
    const answer = await requestPlugin(p.socketPath, { method: 'POST', path: '/control', body: JSON.stringify({ AppID: 'a', NodeID: 'h;<host>', Control: 'go', ControlArgs: null }), timeoutMs: 500 });
    expect(answer.ok).toBe(true);
    expect(JSON.parse(answer.ok ? answer.body : '{}')).toEqual({ value: 'ok' });
    await p.waitForReport((r) => r.Host?.nodes?.['h;<host>']?.latest?.['sluggish_mode']?.value === 'going', 5000);
  });

  it('still sends the shortcut report when the collection fits in the budget', async () => {
    const p = await started((await import('./example-plugin.js')).createExamplePlugin(), { idleAfterMs: 0 });
    await p.waitForReport((r) => r.Host?.nodes?.['h;<host>'] !== undefined);
    const answer = await requestPlugin(p.socketPath, { method: 'POST', path: '/control', body: JSON.stringify({ AppID: 'a', NodeID: 'h;<host>', Control: 'demo-to-busy', ControlArgs: null }), timeoutMs: 500 });
    const body = JSON.parse(answer.ok ? answer.body : '{}') as { shortcutReport?: Report };
    expect(body.shortcutReport?.Host?.nodes?.['h;<host>']?.latest?.['demo_mode']?.value).toBe('busy');
  });
});

describe('idle rule and metrics', () => {
  it('a plugin read only by Prometheus scrapes does not go idle', async () => {
    const { createMetricsHub, parseListenAddress, startPlugin, createLogger } = await import('../src/index.js');
    const { mkdtemp, rm } = await import('node:fs/promises');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    let collects = 0;
    const definition = definePlugin({
      id: 'scraped',
      label: 'Scraped',
      description: 'read by Prometheus only',
      intervalMs: 50,
      create: () => ({ collect: ({ report, hostId }) => void report.topology('Host').node(hostNodeId(hostId)).latest('scraped_n', String(++collects)) }),
    });
    const log = createLogger({ level: 'silent' });
    const hub = createMetricsHub(log);
    const root = await mkdtemp(join(tmpdir(), 'sp-scr-'));
    const running = await startPlugin(hub.instrument(definition), { root, hostId: 'h', log, idleAfterMs: 300, idleIntervalMs: 60_000 });
    hub.watch(running);
    const url = await hub.listen(parseListenAddress('127.0.0.1:0'));
    cleanups.push(async () => {
      await running.stop();
      await hub.close();
      await rm(root, { recursive: true, force: true });
    });
    for (let i = 0; i < 12; i++) {
      expect((await fetch(url)).status).toBe(200);
      await sleep(100);
    }
    expect(running.health().idle).toBe(false);
    const before = collects;
    await sleep(300);
    expect(collects).toBeGreaterThan(before);
  });
});
