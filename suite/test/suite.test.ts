import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
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

function run(args: string[], env: NodeJS.ProcessEnv = {}): { child: ChildProcess; output: () => { stdout: string; stderr: string }; closed: Promise<number | null> } {
  const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, SCOPE_HOSTNAME: HOST_ID, ...env } });
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

  it('--help namespaces every plugin flag and lists the process-wide Docker flags once, with their env vars', async () => {
    const help = run(['run', '--help']);
    expect(await help.closed).toBe(0);
    const text = help.output().stdout.replace(/\s+/g, ' ');
    for (const flag of ['--iowait.mode <iowait|idle>', '--host-namespaces.types <list>', '--no-host-namespaces.docker', '--http-stats.program <file>', '--docker-host <url>', '--docker-resync-ms <ms>']) expect(text).toContain(flag);
    for (const env of ['SCOPE_IOWAIT_MODE', 'SCOPE_HOST_NAMESPACES_TYPES', 'SCOPE_DOCKER_HOST, DOCKER_HOST', 'SCOPE_DOCKER_RESYNC_MS']) expect(text).toContain(env);
    expect(text.match(/--docker-host </g)).toHaveLength(1);
  });

  it('refuses a bad value naming the namespaced flag, the env var and the value, from a flag or from the env', async () => {
    const flag = run(['run', 'iowait', '--once', '--iowait.mode', 'busy']);
    expect(await flag.closed).toBe(1);
    expect(flag.output().stderr).toContain('iowait: --iowait.mode (env SCOPE_IOWAIT_MODE) must be one of iowait, idle, got "busy"');
    const env = run(['run', 'host-namespaces', '--once'], { SCOPE_HOST_NAMESPACES_MAX_ROWS: 'many' });
    expect(await env.closed).toBe(1);
    expect(env.output().stderr).toContain('host-namespaces: --host-namespaces.max-rows (env SCOPE_HOST_NAMESPACES_MAX_ROWS) must be an integer of at least 1, got "many"');
  });

  it('still reads an old env name and an old flag, warning once for each', async () => {
    const { output, closed } = run(['run', 'host-namespaces', '--once', '--no-docker', '--log-level', 'warn'], { HOST_NAMESPACES_TYPES: 'uts' });
    expect(await closed, output().stderr).toBe(0);
    const warnings = output().stderr.split('\n').filter((l) => l.includes('deprecated'));
    expect(warnings).toEqual([
      expect.stringContaining('flag --no-docker is deprecated; use --no-host-namespaces.docker'),
      expect.stringContaining('environment variable HOST_NAMESPACES_TYPES is deprecated; use SCOPE_HOST_NAMESPACES_TYPES'),
    ]);
    const latest = (JSON.parse(output().stdout) as { Host: { nodes: Record<string, { latest: Record<string, { value: string }> }> } }).Host.nodes[hostNodeId(HOST_ID)]!.latest;
    const types = new Set(Object.entries(latest).filter(([key]) => key.endsWith('___type')).map(([, entry]) => entry.value));
    expect([...types]).toEqual(['uts']);
  });
});

describe('one Docker inventory per Docker host in the suite', () => {
  it('host-namespaces and volume-count share one inventory: one "Docker unreachable" line, not one per plugin', async () => {
    const root = await mkdtemp(join(tmpdir(), 'sp-suite-'));
    roots.push(root);
    const { child, output, closed } = run(['run', 'host-namespaces', 'volume-count', '--root', root, '--log-level', 'info', '--docker-host', 'unix:///tmp/sp-suite-no-docker/docker.sock']);
    const unreachable = () => output().stderr.split('\n').filter((l) => l.includes('Docker unreachable'));
    for (let i = 0; i < 100 && unreachable().length === 0; i++) await sleep(100);
    // Backoff retries run meanwhile; a second inventory would have logged its own line by now.
    await sleep(1500);
    expect(unreachable(), output().stderr).toHaveLength(1);
    expect(unreachable()[0]).toContain('shared=docker-inventory:unix:///tmp/sp-suite-no-docker/docker.sock');
    child.kill('SIGTERM');
    expect(await closed).toBe(0);
  });

  const dockerUp = existsSync('/var/run/docker.sock');
  it(
    'against the real engine: one "Docker reachable" line for both plugins, and --docker-resync-ms reaches the shared inventory',
    async (ctx) => {
      requireComponent(ctx, 'a Docker engine on /var/run/docker.sock', dockerUp, 'run scripts/provision.sh');
      const root = await mkdtemp(join(tmpdir(), 'sp-suite-'));
      roots.push(root);
      const { child, output, closed } = run(['run', 'host-namespaces', 'volume-count', '--root', root, '--log-level', 'debug', '--docker-host', 'unix:///var/run/docker.sock', '--docker-resync-ms', '1000']);
      const lines = (text: string) => output().stderr.split('\n').filter((l) => l.includes(text));
      for (let i = 0; i < 150 && lines('docker full resync done').length < 2; i++) await sleep(100);
      expect(lines('Docker reachable'), output().stderr).toHaveLength(1);
      // The default is 30 s: two resyncs within seconds show the flag reached the inventory both plugins use.
      expect(lines('docker full resync done').length).toBeGreaterThanOrEqual(2);
      expect(new Set(lines('docker full resync done').map((l) => /shared=(\S+)/.exec(l)?.[1]))).toEqual(new Set(['docker-inventory:unix:///var/run/docker.sock']));
      child.kill('SIGTERM');
      expect(await closed).toBe(0);
    },
  );
});
