import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { lstat, mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { definePlugin, hostNodeId, pluginSocketPath, startPlugin, createLogger, UNCHANGED, type Report } from '../src/index.js';
import { requestPlugin, startTestPlugin, type TestPlugin } from '../src/testing/index.js';
import { createExamplePlugin } from './example-plugin.js';

const DEMO_BIN = new URL('./fixtures/demo-bin.mjs', import.meta.url).pathname;
const quiet = createLogger({ level: 'silent' });
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const exists = (path: string) => lstat(path).then(() => true, () => false);

let cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  await Promise.allSettled(cleanups.map((c) => c()));
  cleanups = [];
});

async function started(plugin: Parameters<typeof startTestPlugin>[0], options: Parameters<typeof startTestPlugin>[1] = {}): Promise<TestPlugin> {
  const p = await startTestPlugin(plugin, { hostId: 'h', ...options });
  cleanups.push(() => p.stop());
  return p;
}

async function tempRoot(): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), 'sp-rt-'));
  cleanups.push(() => rm(root, { recursive: true, force: true }));
  return root;
}

describe('socket lifecycle', () => {
  it('creates <root>/<id>/<id>.sock with restrictive modes, creating a missing root', async () => {
    const root = join(await tempRoot(), 'not', 'yet');
    const running = await startPlugin(createExamplePlugin(), { root, hostId: 'h', log: quiet });
    cleanups.push(() => running.stop());
    expect(running.socketPath).toBe(join(root, 'demo', 'demo.sock'));
    expect((await lstat(running.socketPath)).isSocket()).toBe(true);
    expect((await stat(running.socketPath)).mode & 0o777).toBe(0o600);
    expect((await stat(join(root, 'demo'))).mode & 0o777).toBe(0o700);
  });

  it('removes a stale socket whose owner is dead and serves in its place', async () => {
    const root = await tempRoot();
    const path = pluginSocketPath(root, 'demo');
    await mkdir(join(root, 'demo'), { recursive: true });
    // A socket file left behind by a killed process: bound, then the server is gone without unlinking.
    const child = spawn(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(path)}, () => process.kill(process.pid, 'SIGKILL'))`]);
    await new Promise((resolve) => child.on('close', resolve));
    expect((await lstat(path)).isSocket()).toBe(true);
    const running = await startPlugin(createExamplePlugin(), { root, hostId: 'h', log: quiet });
    cleanups.push(() => running.stop());
    const answer = await requestPlugin(path, { path: '/report' });
    expect(answer.ok && answer.statusCode).toBe(200);
  });

  it('refuses to start when a live process already serves the id, and leaves its socket alone', async () => {
    const root = await tempRoot();
    const first = await startPlugin(createExamplePlugin(), { root, hostId: 'h', log: quiet });
    cleanups.push(() => first.stop());
    await expect(startPlugin(createExamplePlugin(), { root, hostId: 'h', log: quiet })).rejects.toMatchObject({
      code: 'SOCKET_IN_USE',
      message: expect.stringContaining('another live process already serves'),
    });
    const answer = await requestPlugin(first.socketPath, { path: '/report' });
    expect(answer.ok && answer.statusCode).toBe(200);
  });

  it('refuses to replace a path that is not a socket', async () => {
    const root = await tempRoot();
    await mkdir(join(root, 'demo'), { recursive: true });
    await writeFile(pluginSocketPath(root, 'demo'), 'precious');
    await expect(startPlugin(createExamplePlugin(), { root, hostId: 'h', log: quiet })).rejects.toMatchObject({ code: 'SOCKET_PATH' });
  });

  it('removes the socket and its empty directory on stop', async () => {
    const root = await tempRoot();
    const running = await startPlugin(createExamplePlugin(), { root, hostId: 'h', log: quiet });
    await running.stop();
    expect(await exists(running.socketPath)).toBe(false);
    expect(await exists(join(root, 'demo'))).toBe(false);
  });

  for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) {
    it(`a spawned bin removes its socket on ${signal} and exits 0`, async () => {
      const root = await tempRoot();
      const child = spawn(process.execPath, [DEMO_BIN, '--root', root, '--log-level', 'info'], { stdio: ['ignore', 'pipe', 'pipe'] });
      let stderr = '';
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      const socket = pluginSocketPath(root, 'demo');
      for (let i = 0; i < 100 && !(await exists(socket)); i++) await sleep(50);
      expect(await exists(socket)).toBe(true);
      const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
      child.kill(signal);
      expect(await exited).toBe(0);
      expect(await exists(socket)).toBe(false);
      expect(stderr).toContain(`"shutting down" signal=${signal}`);
    });
  }

  it('a bin refused for a live owner exits non-zero with a clear message', async () => {
    const root = await tempRoot();
    const first = await startPlugin(createExamplePlugin(), { root, hostId: 'h', log: quiet });
    cleanups.push(() => first.stop());
    const child = spawn(process.execPath, [DEMO_BIN, '--root', root], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const code = await new Promise((resolve) => child.on('close', resolve));
    expect(code).toBe(1);
    expect(stderr).toMatch(/another live process already serves .*demo\.sock/);
    expect(await exists(first.socketPath)).toBe(true);
  });

  it('a fatal error exits 1, says why, and still removes the socket', async () => {
    const root = await tempRoot();
    const child = spawn(process.execPath, [DEMO_BIN, '--root', root], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, DEMO_CRASH_AFTER_MS: '300' } });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const socket = pluginSocketPath(root, 'demo');
    for (let i = 0; i < 100 && !(await exists(socket)); i++) await sleep(20);
    expect(await exists(socket)).toBe(true);
    expect(await new Promise((resolve) => child.on('close', resolve))).toBe(1);
    expect(stderr).toMatch(/fatal error, exiting.*demo crash requested/);
    expect(await exists(socket)).toBe(false);
  });

  it('--once prints one valid report and exits without a socket', async () => {
    const root = await tempRoot();
    const child = spawn(process.execPath, [DEMO_BIN, '--once', '--root', root], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, SCOPE_HOSTNAME: 'once-host' } });
    let stdout = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    expect(await new Promise((resolve) => child.on('close', resolve))).toBe(0);
    const report = JSON.parse(stdout) as Report;
    expect(report.Plugins).toEqual([{ id: 'demo', label: 'Demo', description: 'Signal test plugin', interfaces: ['reporter'], api_version: '1' }]);
    expect(Object.keys(report.Host!.nodes!)).toEqual(['once-host;<host>']);
    expect(await exists(pluginSocketPath(root, 'demo'))).toBe(false);
  });

  it('--help lists the common flags', async () => {
    const child = spawn(process.execPath, [DEMO_BIN, '--help'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    expect(await new Promise((resolve) => child.on('close', resolve))).toBe(0);
    for (const flag of ['--root <dir>', '--once', '--log-level <level>', '--interval-ms <ms>', '--proc-root <dir>', '--socket-mode <octal>', 'SCOPE_PLUGINS_ROOT']) expect(stdout).toContain(flag);
  });
});

describe('test helpers', () => {
  it('fail a test whose plugin made the guard remove something', async () => {
    const plugin = definePlugin({
      id: 'sloppy',
      label: 'Sloppy',
      description: 'emits a probe-owned key',
      intervalMs: 100,
      create: () => ({ collect: ({ report, hostId }) => void report.topology('Host').node(hostNodeId(hostId)).latest('host_name', 'hijack') }),
    });
    const p = await startTestPlugin(plugin, { hostId: 'h' });
    await p.waitForReport((r) => r.Host?.nodes?.['h;<host>'] !== undefined);
    await expect(p.stop()).rejects.toThrow(/emitted \d+ report part\(s\) the guard had to remove:[\s\S]*host_name/);
  });
});

describe('serving while collectors misbehave', () => {
  it('/report is answered from the last snapshot while a collector hangs, and the data is marked stale', async () => {
    let hang = false;
    const plugin = definePlugin({
      id: 'slowpoke',
      label: 'Slow',
      description: 'hangs on demand',
      intervalMs: 100,
      timeoutMs: 100,
      staleAfterMisses: 3,
      create: () => ({
        async collect({ report, hostId }) {
          if (hang) await new Promise(() => undefined);
          report.topology('Host').node(hostNodeId(hostId)).latest('slowpoke_v', 'good');
        },
      }),
    });
    const p = await started(plugin);
    await p.waitForReport((r) => r.Host?.nodes?.['h;<host>'] !== undefined);
    hang = true;
    const stale = await p.waitForReport((r) => (r.Plugins[0]?.description ?? '').includes('stale'));
    expect(stale.Host?.nodes?.['h;<host>']?.latest?.['slowpoke_v']?.value).toBe('good');
    // The socket keeps answering fast-path requests in parallel while collection is stuck.
    const answers = await Promise.all(Array.from({ length: 20 }, () => requestPlugin(p.socketPath, { path: '/report', timeoutMs: 500 })));
    expect(answers.every((a) => a.ok && a.statusCode === 200)).toBe(true);
    expect(p.running.health()).toMatchObject({ stale: true, lastError: expect.stringMatching(/longer than 100 ms|still running/) });
    expect(p.logs.filter((l) => l.includes('data is stale'))).toHaveLength(1);
  });

  it('a plugin whose create() fails keeps serving its spec with the reason, and says so once', async () => {
    let attempts = 0;
    const plugin = definePlugin({
      id: 'toolless',
      label: 'Toolless',
      description: 'needs a tool',
      intervalMs: 100,
      create: () => {
        attempts++;
        throw new Error('frobnicate not found: apt-get install frobnicate');
      },
    });
    // The retry interval is injected so the test can wait past two retries.
    const p = await started(plugin, { createRetryMs: 150 });
    const report = await p.report();
    expect(report.Plugins[0]!.description).toBe('needs a tool (not running: frobnicate not found: apt-get install frobnicate)');
    expect((await p.doctor()).status).toBe('ok');
    for (let i = 0; i < 100 && attempts < 3; i++) await sleep(50);
    expect(attempts).toBeGreaterThanOrEqual(3);
    expect(p.logs.filter((l) => l.includes('plugin cannot start'))).toHaveLength(1);
    expect(p.running.health().lastError).toContain('frobnicate not found');
  });

  it('a throwing collector keeps the last good data, logs once per state change, and recovers', async () => {
    let failure: string | undefined;
    const p = await started(createExamplePlugin({ failWith: () => failure }));
    await p.waitForReport((r) => r.Host?.nodes?.['h;<host>'] !== undefined);
    failure = 'disk on fire';
    await p.waitForReport((r) => (r.Plugins[0]?.description ?? '').includes('stale: '));
    const during = await p.report();
    expect(during.Host?.nodes?.['h;<host>']?.latest?.['demo_mode']?.value).toBe('idle');
    failure = undefined;
    await p.waitForReport((r) => r.Plugins[0]?.description === 'Example plugin');
    const failedLines = p.logs.filter((l) => l.includes('collection failed'));
    expect(failedLines).toHaveLength(1);
    expect(failedLines[0]).toContain('reason="disk on fire"');
    expect(p.logs.filter((l) => l.includes('collection recovered'))).toHaveLength(1);
  });
});

describe('a collection that says UNCHANGED', () => {
  /** A plugin serving `value`, saying UNCHANGED while `same` is true; its table row is guarded away on every build. */
  function steady() {
    const state = { value: 'one', same: false, builds: 0, collects: 0 };
    const plugin = definePlugin({
      id: 'steady',
      label: 'Steady',
      description: 'changes rarely',
      intervalMs: 50,
      create: () => ({
        collect({ report, hostId, now }) {
          state.collects++;
          if (state.same) return UNCHANGED;
          state.builds++;
          // latest gets `now` as its timestamp; the value carries it too (a value equal to `now` is re-stamped).
          report.topology('Host').node(hostNodeId(hostId)).latest('steady_v', state.value).latest('steady_seen', now.toISOString()).latest('host_name', 'hijack');
        },
      }),
    });
    return { plugin, state };
  }
  const stampsOf = (r: Report) => Object.values(r.Host?.nodes?.['h;<host>']?.latest ?? {}).map((e) => e.timestamp);

  it('serves the previous report again with newer timestamps, without building or guarding it again', async () => {
    const { plugin, state } = steady();
    const p = await started(plugin, { allowGuardViolations: true });
    const first = await p.waitForReport((r) => r.Host?.nodes?.['h;<host>']?.latest?.['steady_v']?.value === 'one');
    const violations = p.running.health().guardViolations;
    expect(violations).toBeGreaterThan(0);
    state.same = true;
    const collectsBefore = state.collects;
    const later = await p.waitForReport((r) => stampsOf(r)[0]! > stampsOf(first)[0]! && state.collects > collectsBefore + 2);
    // Same content, every timestamp moved to one newer collection time, the value equal to `now` as well.
    const stamp = stampsOf(later)[0]!;
    expect(new Set(stampsOf(later))).toEqual(new Set([stamp]));
    expect(later.Host!.nodes!['h;<host>']!.latest!['steady_seen']!.value).toBe(stamp);
    const strip = (r: Report) => JSON.stringify(r).replaceAll(/"\d{4}-\d\d-\d\dT[\d:.]+Z"/g, '"T"');
    expect(strip(later)).toBe(strip(first));
    // The host_name the guard removed stays removed, and the guard did not run again.
    expect(later.Host!.nodes!['h;<host>']!.latest!['host_name']).toBeUndefined();
    expect(p.running.health().guardViolations).toBe(violations);
    expect(p.running.health().collections).toBeGreaterThan(state.builds);
    // The report object (--once, controls, tests) agrees with the body served on the socket.
    const served = JSON.parse((await requestPlugin(p.socketPath, { path: '/report' }) as { body: string }).body) as Report;
    // (fetched after the socket answer: the same collection or a newer one)
    expect(stampsOf(p.running.currentReport())[0]! >= stampsOf(served)[0]!).toBe(true);
    expect(strip(p.running.currentReport())).toBe(strip(served));
    // A change is built again.
    state.value = 'two';
    state.same = false;
    await p.waitForReport((r) => r.Host?.nodes?.['h;<host>']?.latest?.['steady_v']?.value === 'two');
    expect(p.running.health().guardViolations).toBeGreaterThan(violations);
  });

  it('before any report of the instance it is a missed collection with the reason, and the plugin keeps serving', async () => {
    const { plugin, state } = steady();
    state.same = true;
    const p = await started(plugin, { allowGuardViolations: true });
    const report = await p.waitForReport((r) => (r.Plugins[0]?.description ?? '').includes('stale'));
    expect(report.Plugins[0]!.description).toContain('unchanged before it had sent one');
    expect(report.Host).toBeUndefined();
    state.same = false;
    await p.waitForReport((r) => r.Host?.nodes?.['h;<host>']?.latest?.['steady_v']?.value === 'one');
    // Recovered: the description is the plain one again, even while every collection says UNCHANGED.
    state.same = true;
    const after = await p.waitForReport((r) => r.Plugins[0]?.description === 'changes rarely' && state.collects > state.builds + 2);
    expect(after.Host?.nodes?.['h;<host>']?.latest?.['steady_v']?.value).toBe('one');
  });
});

describe('HTTP on the socket', () => {
  it('control round trip: the shortcut report carries the new state and a full spec, /report follows', async () => {
    const p = await started(createExamplePlugin());
    const before = await p.waitForReport((r) => r.Host?.nodes?.['h;<host>'] !== undefined);
    expect(before.Host!.nodes!['h;<host>']!.latest!['active_controls']!.value).toBe('demo-to-busy;host_exec');
    const answer = await p.control('demo-to-busy', 'h;<host>');
    expect(answer['value']).toEqual({ mode: 'busy' });
    const shortcut = answer['shortcutReport'] as Report;
    expect(shortcut.Plugins).toEqual(before.Plugins);
    const node = shortcut.Host!.nodes!['h;<host>']!;
    expect(node.latest!['demo_mode']!.value).toBe('busy');
    expect(node.latest!['active_controls']!.value).toBe('demo-to-idle;host_exec');
    expect(node.latestControls).toEqual({
      'demo-to-idle': { timestamp: node.latest!['demo_mode']!.timestamp, value: { dead: false } },
      host_exec: { timestamp: node.latest!['demo_mode']!.timestamp, value: { dead: false } },
    });
    expect(Date.parse(node.latest!['demo_mode']!.timestamp)).toBeGreaterThan(Date.parse(before.Host!.nodes!['h;<host>']!.latest!['demo_mode']!.timestamp));
    expect((await p.report()).Host!.nodes!['h;<host>']!.latest!['demo_mode']!.value).toBe('busy');
    expect((await p.doctor()).violations.filter((v) => v.kind !== 'note')).toEqual([]);
  });

  it('answers bad control requests with 200 and a clear error, and keeps serving', async () => {
    const p = await started(createExamplePlugin());
    await p.waitForReport((r) => r.Host?.nodes?.['h;<host>'] !== undefined);
    const post = (body: string) => requestPlugin(p.socketPath, { method: 'POST', path: '/control?api_version=1&probe_id=x', body, timeoutMs: 2000 });
    const cases: Array<[string, RegExp]> = [
      ['{not json', /not valid JSON/],
      ['[1,2]', /must be a JSON object/],
      ['{"NodeID":"h;<host>"}', /non-empty string "Control"/],
      ['{"Control":"demo-to-busy"}', /non-empty string "NodeID"/],
      ['{"Control":"demo-to-busy","NodeID":"h;<host>","ControlArgs":[1]}', /ControlArgs/],
      ['{"Control":"demo-to-busy","NodeID":"h;<host>","ControlArgs":{"k":1}}', /ControlArgs\.k/],
      ['{"Control":"nope","NodeID":"h;<host>"}', /unknown control "nope": plugin demo offers demo-to-busy, demo-to-idle/],
      ['{"Control":"demo-to-busy","NodeID":"other;<host>"}', /unknown node "other;<host>"/],
      ['{"Control":"demo-to-idle","NodeID":"h;<host>"}', /not available on node "h;<host>" \(available: demo-to-busy\)/],
      ['{"Control":"demo-to-busy","NodeID":"h;<host>","ControlArgs":{"fail":"yes"}}', /^demo: mode change failed$/],
      [JSON.stringify({ Control: 'demo-to-busy', NodeID: 'h;<host>', pad: 'x'.repeat(70_000) }), /larger than 65536 bytes/],
    ];
    for (const [body, message] of cases) {
      const answer = await post(body);
      expect(answer.ok && answer.statusCode).toBe(200);
      expect(JSON.parse(answer.ok ? answer.body : '{}')).toEqual({ error: expect.stringMatching(message) });
    }
    // Nothing was lost: the state is unchanged and the plugin still serves.
    expect((await p.report()).Host!.nodes!['h;<host>']!.latest!['demo_mode']!.value).toBe('idle');
  });

  it('unknown paths and methods get JSON errors; malformed HTTP gets a 400', async () => {
    const p = await started(createExamplePlugin());
    const notFound = await requestPlugin(p.socketPath, { path: '/nope' });
    expect(notFound.ok && [notFound.statusCode, JSON.parse(notFound.body)]).toEqual([404, { error: expect.stringContaining('no such endpoint: GET /nope') }]);
    const wrongMethod = await requestPlugin(p.socketPath, { method: 'POST', path: '/report', body: '{}' });
    expect(wrongMethod.ok && wrongMethod.statusCode).toBe(405);
    const raw = await new Promise<string>((resolve) => {
      const socket = require('node:net').connect(p.socketPath, () => socket.write('GARBAGE\r\n\r\n'));
      let data = '';
      socket.on('data', (d: Buffer) => (data += d.toString()));
      socket.on('close', () => resolve(data));
    });
    expect(raw).toMatch(/^HTTP\/1\.1 400/);
    const after = await requestPlugin(p.socketPath, { path: '/report' });
    expect(after.ok && after.statusCode).toBe(200);
  });

  it('serves 200 concurrent /report requests, all valid', async () => {
    const p = await started(createExamplePlugin());
    await p.waitForReport((r) => r.Host?.nodes?.['h;<host>'] !== undefined);
    const answers = await Promise.all(Array.from({ length: 200 }, () => requestPlugin(p.socketPath, { path: '/report?api_version=1&probe_id=x', timeoutMs: 5000 })));
    expect(answers.filter((a) => !a.ok || a.statusCode !== 200)).toEqual([]);
    for (const a of answers) expect(a.ok && (JSON.parse(a.body) as Report).Plugins[0]!.id).toBe('demo');
  });

  it('a plugin whose collector emits a crashing key is guarded: the key never reaches the socket and the guard says why', async () => {
    const plugin = definePlugin({
      id: 'sloppy',
      label: 'Sloppy',
      description: 'emits bad keys',
      intervalMs: 100,
      topologies: { Host: { tableTemplates: [{ id: 't', label: 'T', prefix: 'sloppy_t_', type: 'multicolumn-table', columns: [{ id: 'c', label: 'C' }] }] } },
      create: () => ({
        collect({ report, hostId }) {
          report.topology('Host').node(hostNodeId(hostId)).latest('sloppy_t_orphan', 'boom').latest('sloppy_t_r1___c', 'fine').latest('host_name', 'hijack');
        },
      }),
    });
    const p = await started(plugin, { allowGuardViolations: true });
    const report = await p.waitForReport((r) => r.Host?.nodes?.['h;<host>'] !== undefined);
    expect(Object.keys(report.Host!.nodes!['h;<host>']!.latest!)).toEqual(['sloppy_t_r1___c']);
    expect((await p.doctor()).violations.filter((v) => v.kind !== 'note')).toEqual([]);
    expect(p.logs.filter((l) => l.includes('report guard removed')).map((l) => /removed part of the report: (\w+)/.exec(l)?.[1]).sort()).toEqual(['crash', 'unsafe']);
  });

  it('a server listening on a plain socket path is found by probeSocket as live', async () => {
    const root = await tempRoot();
    const path = pluginSocketPath(root, 'demo');
    await mkdir(join(root, 'demo'));
    const server = createServer().listen(path);
    cleanups.push(() => new Promise((resolve) => server.close(resolve)));
    await expect(startPlugin(createExamplePlugin(), { root, hostId: 'h', log: quiet })).rejects.toMatchObject({ code: 'SOCKET_IN_USE' });
  });
});
