import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { pluginSocketPath, type Report } from '@scope-plugins/core';
import { requestPlugin, requireComponent } from '@scope-plugins/core/testing';
import { TRACER_KEY } from '../src/index.js';
import { checkTracer, requireTracer } from './helpers.js';

// tracefs unmounted under a running plugin. The plugin runs in a private mount namespace of its own
// (`unshare -m`), and only that namespace's tracefs is unmounted: the host's, which other tests and
// tools on this machine use, is never touched (checked at the end).

const CLI = new URL('../dist/cli.js', import.meta.url).pathname;
const TRACEFS = '/sys/kernel/tracing';
const tracer = await checkTracer();
const hasUnshare = spawnSync('unshare', ['--version']).status === 0 && spawnSync('nsenter', ['--version']).status === 0;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

let child: ChildProcess | undefined;
let root = '';
afterEach(async () => {
  if (child && child.exitCode === null && child.signalCode === null) {
    child.kill('SIGTERM');
    await new Promise((resolve) => child!.once('close', resolve));
  }
  if (root) await rm(root, { recursive: true, force: true });
});

async function tracerCell(socketPath: string): Promise<string | undefined> {
  const answer = await requestPlugin(socketPath, { path: '/report', timeoutMs: 500 });
  if (!answer.ok) return undefined;
  const report = JSON.parse(answer.body) as Report;
  return Object.values(report.Host?.nodes ?? {})[0]?.latest?.[TRACER_KEY]?.value;
}

async function waitForCell(socketPath: string, predicate: (cell: string) => boolean, what: string, timeoutMs = 60_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  let last: string | undefined;
  while (Date.now() < deadline) {
    last = await tracerCell(socketPath);
    if (last !== undefined && predicate(last)) return last;
    await sleep(200);
  }
  throw new Error(`tracer never ${what}; last cell: ${last}`);
}

describe('tracefs unmounted while http-stats runs', () => {
  it('keeps tracing what is attached, says exactly what is missing when bpftrace must restart, and recovers once tracefs is back', { timeout: 150_000 }, async (ctx) => {
    requireTracer(ctx, tracer);
    requireComponent(ctx, 'unshare and nsenter (util-linux)', hasUnshare, 'apt-get install -y util-linux');
    root = await mkdtemp(join(tmpdir(), 'sp-tfs-'));
    const socketPath = pluginSocketPath(root, 'http-stats');
    // unshare -m makes the namespace's mounts private: an unmount in it does not reach the host.
    child = spawn('unshare', ['-m', '--propagation', 'private', process.execPath, CLI, '--root', root, '--log-level', 'info', '--tls-libraries', 'none'], {
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { ...process.env, SCOPE_HOSTNAME: 'h' },
    });
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const inNamespace = (...args: string[]) => execFileSync('nsenter', ['-t', String(child!.pid), '-m', ...args], { stdio: 'pipe' });

    const running = await waitForCell(socketPath, (c) => c.startsWith('running'), 'ran');
    const bpftracePid = Number(/bpftrace pid (\d+)/.exec(running)?.[1]);
    expect(bpftracePid).toBeGreaterThan(0);

    inNamespace('umount', '-l', TRACEFS);
    // Probes already attached keep counting: nothing to report yet.
    await sleep(1500);
    expect(await tracerCell(socketPath)).toBe(running);

    // bpftrace has to start again (it died): now tracefs is missing, and the plugin says so and how to fix it.
    process.kill(bpftracePid, 'SIGKILL');
    // First "exited killed by SIGKILL", then, at the restart, the preflight names the cause.
    await waitForCell(socketPath, (c) => c === 'not running: TRACEFS_NOT_MOUNTED', 'reported the missing tracefs');
    expect(stderr).toMatch(/cannot trace HTTP: tracefs is not mounted: neither .*kernel\/tracing nor .*has tracepoints; mount it with `mount -t tracefs tracefs \/sys\/kernel\/tracing`/);

    inNamespace('mount', '-t', 'tracefs', 'tracefs', TRACEFS);
    const back = await waitForCell(socketPath, (c) => c.startsWith('running'), 'recovered');
    expect(back).not.toBe(running);
    // The host's tracefs was never unmounted.
    expect(spawnSync('mountpoint', ['-q', TRACEFS]).status).toBe(0);
  });
});
