import { spawn } from 'node:child_process';
import { request } from 'node:http';
import { connect, createServer, type Socket } from 'node:net';
import { lstat, mkdtemp, readFile, readdir, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger, pluginSocketPath, startPlugin, type RunningPlugin } from '../src/index.js';
import { createExamplePlugin } from './example-plugin.js';

const DEMO_BIN = new URL('./fixtures/demo-bin.mjs', import.meta.url).pathname;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

let cleanups: Array<() => Promise<unknown> | unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.reverse()) await Promise.resolve(cleanup()).catch(() => undefined);
  cleanups = [];
});

async function startDemo(): Promise<{ running: RunningPlugin; root: string; logs: string[] }> {
  const root = await mkdtemp(join(tmpdir(), 'sp-sr-'));
  cleanups.push(() => rm(root, { recursive: true, force: true }));
  const logs: string[] = [];
  const log = createLogger({ level: 'debug', write: (line) => logs.push(line) });
  // The production check interval, so "within 5 s" is what an operator gets.
  const running = await startPlugin(createExamplePlugin(), { root, hostId: 'h', log });
  cleanups.push(() => running.stop());
  return { running, root, logs };
}

/** GET over a new connection (the default agent would reuse a kept-alive one to a socket already unlinked). */
function freshGet(socketPath: string, path = '/report'): Promise<{ statusCode: number; body: string } | undefined> {
  return new Promise((resolve) => {
    const req = request({ socketPath, path, agent: false, timeout: 500 }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ statusCode: res.statusCode ?? 0, body }));
      res.on('error', () => resolve(undefined));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(undefined));
    req.end();
  });
}

/** Waits up to 5 s (the promise made in the README) for the plugin to answer on its path again. */
async function answersWithin5s(socketPath: string): Promise<boolean> {
  const deadline = Date.now() + 5000;
  while (Date.now() < deadline) {
    const answer = await freshGet(socketPath);
    if (answer?.statusCode === 200) return true;
    await sleep(100);
  }
  return false;
}

const recreatedLines = (logs: string[]) => logs.filter((l) => l.includes('recreated the socket'));

describe('socket and root recovery', () => {
  for (const [what, remove, expected] of [
    ['the socket', (p: string) => unlink(p), 'the socket was removed'],
    ['the plugin directory', (p: string) => rm(dirname(p), { recursive: true }), 'the plugin directory was removed'],
    ['the whole plugins root', (p: string) => rm(dirname(dirname(p)), { recursive: true }), 'the plugins root was removed'],
  ] as const) {
    it(`${what}, removed while serving, is recreated within 5 s with one log line each time`, async () => {
      const { running, logs } = await startDemo();
      for (let round = 1; round <= 2; round++) {
        await remove(running.socketPath);
        expect(await answersWithin5s(running.socketPath)).toBe(true);
        expect((await lstat(running.socketPath)).isSocket()).toBe(true);
        expect(((await lstat(running.socketPath)).mode & 0o777).toString(8)).toBe('600');
        expect(((await lstat(dirname(running.socketPath))).mode & 0o777).toString(8)).toBe('700');
        expect(recreatedLines(logs)).toHaveLength(round);
        expect(recreatedLines(logs)[round - 1]).toContain(expected);
      }
      expect(running.health().socketRebinds).toBe(2);
    });
  }

  it('a socket path replaced by a regular file is never clobbered, not even on stop, and that is logged once', async () => {
    const { running, logs } = await startDemo();
    await unlink(running.socketPath);
    await writeFile(running.socketPath, 'precious');
    for (let i = 0; i < 3; i++) await running.checkSocket();
    await sleep(1600);
    expect(await readFile(running.socketPath, 'utf8')).toBe('precious');
    const lines = logs.filter((l) => l.includes('not a socket; not touching it'));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/ error /);
    await running.stop();
    expect(await readFile(running.socketPath, 'utf8')).toBe('precious');
    // Once the file goes, the plugin takes its path back.
  });

  it('a socket path taken over by another live process is left to it, and taken back once that process is gone', async () => {
    const { running, logs } = await startDemo();
    await unlink(running.socketPath);
    const otherSockets = new Set<Socket>();
    const other = createServer((socket) => {
      otherSockets.add(socket);
      socket.on('error', () => undefined);
      socket.end('HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nother');
    });
    await new Promise<void>((resolve) => other.listen(running.socketPath, resolve));
    for (let i = 0; i < 3; i++) await running.checkSocket();
    expect((await freshGet(running.socketPath))?.body).toBe('other');
    expect(logs.filter((l) => l.includes('another live process now serves'))).toHaveLength(1);
    // The other process goes away (Node removes its socket on close): ours comes back.
    await new Promise((resolve) => {
      other.close(resolve);
      for (const socket of otherSockets) socket.destroy();
    });
    expect(await answersWithin5s(running.socketPath)).toBe(true);
    expect(JSON.parse((await freshGet(running.socketPath))!.body).Plugins[0].id).toBe('demo');
  });

  it('a dead socket left at our path by another process is replaced, as at start-up', async () => {
    const { running, logs } = await startDemo();
    await unlink(running.socketPath);
    // Bound, then killed without unlinking: a socket file nobody serves.
    const child = spawn(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(running.socketPath)}, () => process.kill(process.pid, 'SIGKILL'))`]);
    await new Promise((resolve) => child.on('close', resolve));
    expect(await answersWithin5s(running.socketPath)).toBe(true);
    expect(logs.filter((l) => l.includes('a dead socket of another process replaced ours'))).toHaveLength(1);
  });
});

describe('accept errors', () => {
  it('running out of file descriptors does not end the process: it keeps serving once descriptors are free', async () => {
    const root = await mkdtemp(join(tmpdir(), 'sp-fd-'));
    cleanups.push(() => rm(root, { recursive: true, force: true }));
    // A low descriptor limit makes accept(2) fail with EMFILE after a few dozen connections. (libuv
    // absorbs most of those itself; the listener core keeps on the server covers the ones it reports.)
    const child = spawn('sh', ['-c', `ulimit -n 128 && exec "${process.execPath}" "${DEMO_BIN}" --root "${root}"`], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    cleanups.push(() => child.kill('SIGKILL'));
    const socketPath = pluginSocketPath(root, 'demo');
    expect(await answersWithin5s(socketPath)).toBe(true);
    const held: Socket[] = [];
    cleanups.push(() => held.forEach((s) => s.destroy()));
    for (let i = 0; i < 200; i++) {
      const socket = connect(socketPath);
      socket.on('error', () => undefined);
      held.push(socket);
    }
    const fds = async () => (await readdir(`/proc/${child.pid}/fd`)).length;
    // The plugin really is at its limit (128 descriptors, minus the few it needs to open one more).
    for (let i = 0; i < 50 && (await fds()) < 126; i++) await sleep(100);
    expect(await fds()).toBeGreaterThanOrEqual(126);
    await sleep(500);
    expect(child.exitCode).toBe(null);
    for (const socket of held) socket.destroy();
    expect(await answersWithin5s(socketPath)).toBe(true);
    expect(child.exitCode).toBe(null);
    expect(stderr).not.toMatch(/fatal/);
  });
});
