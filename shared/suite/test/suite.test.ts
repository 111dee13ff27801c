import { spawn, type ChildProcess } from 'node:child_process';
import { lstat, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { runDoctor, pluginSocketPath } from '@scope-plugins/core';
import { SUITE_PLUGINS, selectPlugins } from '../src/index.js';

const CLI = new URL('../dist/cli.js', import.meta.url).pathname;
const exists = (path: string) => lstat(path).then(() => true, () => false);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

let children: ChildProcess[] = [];
let roots: string[] = [];
afterEach(async () => {
  for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
  await Promise.all(roots.map((root) => rm(root, { recursive: true, force: true })));
  children = [];
  roots = [];
});

function run(args: string[]): { child: ChildProcess; output: () => { stdout: string; stderr: string }; closed: Promise<number | null> } {
  const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, SCOPE_HOSTNAME: 'suite-host' } });
  children.push(child);
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const closed = new Promise<number | null>((resolve) => child.on('close', resolve));
  return { child, output: () => ({ stdout, stderr }), closed };
}

describe('scope-plugins', () => {
  it('has the four plugins, in a stable order', () => {
    expect([...SUITE_PLUGINS.keys()]).toEqual(['host-namespaces', 'http-stats', 'iowait', 'volume-count']);
    expect(selectPlugins(['iowait', 'iowait']).map((p) => p.id)).toEqual(['iowait']);
    expect(() => selectPlugins(['iowait', 'nope'])).toThrow('unknown plugin "nope"; the suite has host-namespaces, http-stats, iowait, volume-count');
  });

  it('run hosts every plugin in ONE process, each on its own socket, all passing the doctor; SIGTERM removes them all', async () => {
    const root = await mkdtemp(join(tmpdir(), 'sp-suite-'));
    roots.push(root);
    const { child, output, closed } = run(['run', '--root', root, '--log-level', 'info']);
    const sockets = [...SUITE_PLUGINS.keys()].map((id) => pluginSocketPath(root, id));
    for (let i = 0; i < 150; i++) {
      if ((await Promise.all(sockets.map(exists))).every(Boolean)) break;
      await sleep(100);
    }
    expect(await Promise.all(sockets.map(exists)), output().stderr).toEqual([true, true, true, true]);
    // Give rate-based plugins (iowait needs two reads) a few intervals.
    await sleep(2500);
    const entries = await runDoctor(root, { hostId: 'suite-host', timeoutMs: 500 });
    expect(entries.map((e) => [e.diagnosis.pluginId, e.diagnosis.status])).toEqual([
      ['host-namespaces', 'ok'],
      ['http-stats', 'ok'],
      ['iowait', 'ok'],
      ['volume-count', 'ok'],
    ]);
    for (const entry of entries) expect(entry.diagnosis.violations.filter((v) => v.kind !== 'note'), entry.diagnosis.pluginId).toEqual([]);
    child.kill('SIGTERM');
    expect(await closed).toBe(0);
    expect(await Promise.all(sockets.map(exists))).toEqual([false, false, false, false]);
  });

  it('run with an unknown id exits 1 naming the plugins it has', async () => {
    const { output, closed } = run(['run', 'nope', '--root', '/tmp/unused-root']);
    expect(await closed).toBe(1);
    expect(output().stderr).toContain('unknown plugin "nope"; the suite has host-namespaces, http-stats, iowait, volume-count');
  });

  it('list and --help describe the suite', async () => {
    const list = run(['list']);
    expect(await list.closed).toBe(0);
    expect(list.output().stdout.split('\n').filter(Boolean).map((l) => l.split('\t')[0])).toEqual(['host-namespaces', 'http-stats', 'iowait', 'volume-count']);
    const help = run(['run', '--help']);
    expect(await help.closed).toBe(0);
    for (const flag of ['--root <dir>', '--once', '--log-level <level>', '--docker-host <url>']) expect(help.output().stdout).toContain(flag);
  });
});
