import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { lstat, mkdtemp, readlink, rm } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { containerNodeId, hostNodeId, pluginSocketPath, pollReport, processNodeId, runDoctor, type Report } from '@scope-plugins/core';
import { requireComponent } from '@scope-plugins/core/testing';
import { TABLE_PREFIX as NS_TABLE_PREFIX, TOTAL_KEY as NS_TOTAL_KEY, buildRowId } from '@scope-plugins/host-namespaces';
import { BPF_PROGRAM_PATH, TOTAL_KEYS, TRACER_KEY, checkTracerPrerequisites } from '@scope-plugins/http-stats';
import { IOWAIT_METRIC, LATEST_KEYS as IOWAIT_KEYS } from '@scope-plugins/iowait';
import { COUNT_KEYS, VOLUME_COUNT_KEY } from '@scope-plugins/volume-count';
import { SUITE_PLUGINS, selectPlugins } from '../src/index.js';

const CLI = new URL('../dist/cli.js', import.meta.url).pathname;
const HOST_ID = 'suite-host';
const IMAGE = 'scope-plugins-test/busybox:latest';
const exists = (path: string) => lstat(path).then(() => true, () => false);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** `docker …` through the CLI; resolves with trimmed stdout, rejects with stderr. */
function docker(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('docker', args, { timeout: 60_000 }, (error, stdout, stderr) => (error ? reject(new Error(`docker ${args.join(' ')}: ${stderr || error.message}`)) : resolve(stdout.trim())));
  });
}

const haveDocker = await docker(['image', 'inspect', '--format', '{{.Id}}', IMAGE]).then(() => true, () => false);
const tracer = await checkTracerPrerequisites({ bpftrace: 'bpftrace', programPath: BPF_PROGRAM_PATH });

let children: ChildProcess[] = [];
let roots: string[] = [];
let cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
  for (const cleanup of cleanups) await cleanup().catch(() => undefined);
  await Promise.all(roots.map((root) => rm(root, { recursive: true, force: true })));
  children = [];
  roots = [];
  cleanups = [];
});

function run(args: string[]): { child: ChildProcess; output: () => { stdout: string; stderr: string }; closed: Promise<number | null> } {
  const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, SCOPE_HOSTNAME: HOST_ID } });
  children.push(child);
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const closed = new Promise<number | null>((resolve) => child.on('close', resolve));
  return { child, output: () => ({ stdout, stderr }), closed };
}

/** A Node HTTP server in its own process on 127.0.0.1 (http-stats reports per process); `hit(n)` sends n requests. */
async function startHttpServer(): Promise<{ pid: number; hit(count: number): Promise<void> }> {
  const script = "require('node:http').createServer((q, s) => s.end('ok')).listen(0, '127.0.0.1', function () { console.log(this.address().port); })";
  const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(child);
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout!.once('data', (chunk: Buffer) => resolve(Number(String(chunk).trim())));
    child.once('exit', (code) => reject(new Error(`HTTP server exited with ${code}`)));
  });
  const one = () =>
    new Promise<void>((resolve) => {
      const req = request({ host: '127.0.0.1', port, path: '/', agent: false, timeout: 2000 }, (res) => res.resume().on('end', resolve));
      req.on('error', () => resolve());
      req.end();
    });
  return {
    pid: child.pid!,
    async hit(count) {
      for (let i = 0; i < count; i++) await one();
    },
  };
}

describe('scope-plugins', () => {
  it('has the four plugins, in a stable order', () => {
    expect([...SUITE_PLUGINS.keys()]).toEqual(['host-namespaces', 'http-stats', 'iowait', 'volume-count']);
    expect(selectPlugins(['iowait', 'iowait']).map((p) => p.id)).toEqual(['iowait']);
    expect(() => selectPlugins(['iowait', 'nope'])).toThrow('unknown plugin "nope"; the suite has host-namespaces, http-stats, iowait, volume-count');
  });

  it('run hosts every plugin in ONE process, each on its own socket, all passing the doctor and serving real data; SIGTERM removes them all', async (ctx) => {
    requireComponent(ctx, `a Docker engine on /var/run/docker.sock with ${IMAGE}`, haveDocker, 'run scripts/provision.sh (starts dockerd and imports the test image)');
    requireComponent(ctx, 'bpftrace with root and tracefs', tracer.ok, tracer.ok ? '' : `${tracer.problem.message} (scripts/provision.sh installs bpftrace and mounts tracefs)`);
    // Something real for each plugin to find: a container with one named volume and one bind mount
    // (volume-count), an HTTP server answering requests (http-stats); the host itself (iowait, host-namespaces).
    const bindDir = await mkdtemp(join(tmpdir(), 'sp-suite-bind-'));
    roots.push(bindDir);
    const volume = `sp-suite-${process.pid}-${Date.now()}`;
    const containerId = await docker(['run', '-d', '--network', 'none', '--label', 'scope-plugins-test=suite', '-v', `${volume}:/data`, '-v', `${bindDir}:/bind:ro`, IMAGE, 'sleep', '300']);
    cleanups.push(() => docker(['rm', '-f', '-v', containerId]).then(() => docker(['volume', 'rm', volume])).then(() => undefined));
    const server = await startHttpServer();
    // The suite runs in this process's network namespace: its table has a row for it.
    const hostNetNs = /\[(\d+)\]/.exec(await readlink('/proc/self/ns/net'))![1]!;

    const root = await mkdtemp(join(tmpdir(), 'sp-suite-'));
    roots.push(root);
    const { child, output, closed } = run(['run', '--root', root, '--log-level', 'info']);
    const sockets = [...SUITE_PLUGINS.keys()].map((id) => pluginSocketPath(root, id));
    for (let i = 0; i < 150; i++) {
      if ((await Promise.all(sockets.map(exists))).every(Boolean)) break;
      await sleep(100);
    }
    expect(await Promise.all(sockets.map(exists)), output().stderr).toEqual([true, true, true, true]);

    // Each plugin's own data, read from its socket: retried while collections catch up (iowait needs two
    // reads, http-stats its tracer attached), bounded.
    const reportOf = async (id: string): Promise<Report> => {
      const poll = await pollReport(pluginSocketPath(root, id), undefined, 2000);
      if (!poll.ok || poll.statusCode !== 200) throw new Error(`${id}: no report (${poll.ok ? poll.statusCode : poll.error})`);
      return JSON.parse(poll.body) as Report;
    };
    const host = hostNodeId(HOST_ID);
    const read = async () => {
      await server.hit(5);
      const [namespaces, http, io, volumes] = await Promise.all(['host-namespaces', 'http-stats', 'iowait', 'volume-count'].map(reportOf)) as [Report, Report, Report, Report];
      const nsLatest = namespaces.Host?.nodes?.[host]?.latest ?? {};
      const ioNode = io.Host?.nodes?.[host];
      const httpNode = http.Process?.nodes?.[processNodeId(HOST_ID, server.pid)]?.latest ?? {};
      const containerNode = volumes.Container?.nodes?.[containerNodeId(containerId)]?.latest ?? {};
      return {
        'host-namespaces': {
          total: Number(nsLatest[NS_TOTAL_KEY]?.value),
          hostNetRow: Object.keys(nsLatest).some((key) => key.startsWith(`${NS_TABLE_PREFIX}${buildRowId('net', hostNetNs)}___`)),
        },
        'http-stats': {
          tracer: http.Host?.nodes?.[host]?.latest?.[TRACER_KEY]?.value ?? '',
          requests: Number(httpNode[TOTAL_KEYS.requests]?.value ?? 0),
        },
        iowait: {
          samples: ioNode?.metrics?.[IOWAIT_METRIC]?.samples.map((sample) => sample.value) ?? [],
          idle: Number(ioNode?.latest?.[IOWAIT_KEYS.idle]?.value),
        },
        'volume-count': { total: containerNode[VOLUME_COUNT_KEY]?.value, volumes: containerNode[COUNT_KEYS.volume]?.value, binds: containerNode[COUNT_KEYS.bind]?.value },
      };
    };
    let data = await read();
    const complete = () =>
      data['host-namespaces'].total > 0 && data['http-stats'].requests >= 5 && data.iowait.samples.length >= 1 && data['volume-count'].total !== undefined;
    for (let i = 0; i < 40 && !complete(); i++) {
      await sleep(500);
      data = await read();
    }
    expect(data['host-namespaces'].total, JSON.stringify(data)).toBeGreaterThan(0);
    expect(data['host-namespaces'].hostNetRow).toBe(true);
    expect(data['http-stats'].tracer).toMatch(/^running \(bpftrace pid \d+\)$/);
    expect(data['http-stats'].requests).toBeGreaterThanOrEqual(5);
    expect(data.iowait.samples.length).toBeGreaterThanOrEqual(1);
    for (const value of data.iowait.samples) {
      expect(value).toBeGreaterThanOrEqual(0);
      expect(value).toBeLessThanOrEqual(100);
    }
    expect(data.iowait.idle).toBeGreaterThanOrEqual(0);
    expect(data.iowait.idle).toBeLessThanOrEqual(100);
    expect(data['volume-count']).toEqual({ total: '2', volumes: '1', binds: '1' });

    const entries = await runDoctor(root, { hostId: HOST_ID, timeoutMs: 500 });
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
