/**
 * scripts/suite.sh, the README's first command, on a copy of the repository as a fresh clone has it
 * (tracked and new files, no node_modules, no dist): it installs only what running needs (pnpm
 * dependencies and the build), never starts a daemon, mounts or installs a system package unasked
 * (every such command on PATH is replaced by a recorder), prints one preflight line per plugin saying
 * what is missing here (no Docker engine, no bpftrace) and serves every plugin anyway. Afterwards,
 * from the copy's root, `pnpm exec scope-plugins …` and every plugin bin work. With
 * SCOPE_PLUGINS_INSTALL_BPFTRACE=1 it asks apt for bpftrace and nothing else.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { hasProblems, runDoctor } from '@scope-plugins/core';
import { requireComponent } from '@scope-plugins/core/testing';
import { pluginPackages, publishablePackages } from './helpers/packages.js';
import { REPO_ROOT, onPath, run, runOk, waitFor } from './helpers/run.js';

const PLUGIN_IDS = [...pluginPackages().keys()].sort();
/** Commands suite.sh must not run unasked: they install, mount or start daemons. */
const RECORDED = ['apt-get', 'apt', 'dpkg', 'dockerd', 'containerd', 'mount', 'systemctl', 'service', 'podman'];
/** Hidden from PATH: what a fresh host lacks (bpftrace), so its preflight line and the consent path show. */
const HIDDEN = ['bpftrace'];
const ready = onPath('git') && onPath('pnpm') && process.getuid?.() === 0;

let work: string;
let copy: string;
let binDir: string;
let recordLog: string;

/** A PATH of symlinks to everything on the real PATH, minus HIDDEN, with RECORDED replaced by recorders. */
async function makeShadowPath(): Promise<void> {
  await mkdir(binDir);
  for (const name of RECORDED) {
    const stub = join(binDir, name);
    await writeFile(stub, `#!/bin/sh\necho "${name} $*" >> '${recordLog}'\nexit 0\n`);
    await chmod(stub, 0o755);
  }
  const taken = new Set([...RECORDED, ...HIDDEN]);
  for (const dir of (process.env['PATH'] ?? '').split(delimiter)) {
    const entries = await readdir(dir).catch(() => [] as string[]);
    for (const name of entries) {
      if (taken.has(name)) continue;
      taken.add(name);
      await symlink(join(dir, name), join(binDir, name));
    }
  }
}

/** Starts `bash scripts/suite.sh ARGS` in the copy; output collected, never inherited. */
function startSuite(args: string[], env: Record<string, string> = {}): { child: ChildProcess; output: () => string; exited: Promise<number | null> } {
  let output = '';
  const child = spawn('bash', ['scripts/suite.sh', ...args], {
    cwd: copy,
    env: { ...process.env, PATH: binDir, DOCKER_HOST: `unix://${join(work, 'no-docker.sock')}`, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, output: () => output, exited };
}

/** Resolves once `count` sockets are under `dir`; rejects with the script's output if it exits first or times out. */
async function untilServing(suite: ReturnType<typeof startSuite>, dir: string, count: number, timeoutMs: number): Promise<void> {
  const exitedEarly = suite.exited.then((code) => {
    throw new Error(`suite.sh exited (${code}) before serving`);
  });
  const serving = waitFor(`${count} plugin socket(s) under ${dir}`, async () => ((await socketsUnder(dir)).length === count ? true : undefined), timeoutMs, 1000);
  await Promise.race([serving, exitedEarly]).catch((error: Error) => {
    throw new Error(`${error.message}\n${suite.output().slice(-4000)}`);
  });
  exitedEarly.catch(() => undefined);
}

async function stopSuite(suite: ReturnType<typeof startSuite>): Promise<number | null> {
  if (suite.child.exitCode === null) suite.child.kill('SIGTERM');
  const killer = setTimeout(() => suite.child.kill('SIGKILL'), 20_000);
  const code = await suite.exited;
  clearTimeout(killer);
  return code;
}

async function socketsUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true }).catch(() => [])) {
    if (entry.isSocket()) out.push(join(entry.parentPath, entry.name));
  }
  return out.sort();
}

describe('scripts/suite.sh on a fresh copy', () => {
  let suite: ReturnType<typeof startSuite>;
  const root = () => join(work, 'plugins-root');

  beforeEach((ctx) => requireComponent(ctx, 'git, pnpm and root', ready, 'run scripts/provision.sh as root'));

  beforeAll(async () => {
    if (!ready) return;
    work = await mkdtemp(join(tmpdir(), 'sp-suite-sh-'));
    await chmod(work, 0o755);
    copy = join(work, 'repo');
    binDir = join(work, 'bin');
    recordLog = join(work, 'recorded.log');
    await mkdir(copy);
    // What a clone has: tracked files and new ones not ignored (no node_modules, dist, .turbo).
    await runOk('bash', ['-c', `git ls-files -z -co --exclude-standard | tar --null -T - -c | tar -x -C '${copy}'`], { cwd: REPO_ROOT });
    await makeShadowPath();
    suite = startSuite(['--root', root(), '--log-level', 'info']);
    await untilServing(suite, root(), PLUGIN_IDS.length, 900_000);
  }, 960_000);

  afterAll(async () => {
    if (suite) await stopSuite(suite);
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('prints exactly one preflight line per plugin, naming what is missing here and how to fix it', () => {
    const lines = suite.output().split('\n').filter((line) => line.startsWith('[preflight] '));
    expect(lines.map((line) => line.slice('[preflight] '.length).split(':')[0]).sort()).toEqual(PLUGIN_IDS);
    const byId = new Map(lines.map((line) => [line.slice('[preflight] '.length).split(':')[0]!, line]));
    const noDocker = `no Docker socket at ${join(work, 'no-docker.sock')}`;
    expect(byId.get('volume-count')).toContain(noDocker);
    expect(byId.get('host-namespaces')).toContain(noDocker);
    expect(byId.get('http-stats')).toContain('bpftrace not found: rerun with `bash scripts/suite.sh --install-bpftrace`');
  });

  it('installs, mounts and starts nothing but the workspace (no apt, dockerd, mount...)', async () => {
    const recorded = await readFile(recordLog, 'utf8').catch(() => '');
    expect(recorded).toBe('');
    // The build happened in the copy, and nothing else was made there but node_modules and dist.
    await stat(join(copy, 'node_modules', '.bin', 'scope-plugins'));
  });

  it('serves every plugin, each answering the doctor with a report Scope accepts (Docker and bpftrace missing included)', async () => {
    const entries = await waitFor('four healthy sockets', async () => {
      const found = await runDoctor(root(), { timeoutMs: 500 }).catch(() => []);
      return found.length === PLUGIN_IDS.length && !found.some((e) => hasProblems(e.diagnosis)) ? found : undefined;
    }, 30_000, 500);
    expect(entries.map((e) => [e.diagnosis.pluginId, e.diagnosis.status]).sort()).toEqual(PLUGIN_IDS.map((id) => [id, 'ok']));
  });

  it('from the root of the copy, `pnpm exec scope-plugins doctor` and every bin work as the README shows', async () => {
    const env = { ...process.env, PATH: binDir };
    const doctor = await run('pnpm', ['exec', 'scope-plugins', 'doctor', root()], { cwd: copy, env, timeoutMs: 60_000 });
    expect(doctor.code, doctor.stdout + doctor.stderr).toBe(0);
    expect(doctor.stdout.match(/status: ok/g)).toHaveLength(PLUGIN_IDS.length);
    const bins = publishablePackages().flatMap((p) => Object.keys(p.bins)).sort();
    expect(bins).toEqual(expect.arrayContaining(['scope-plugins', 'scope-plugin-doctor', ...PLUGIN_IDS.map((id) => `scope-${id}`)]));
    for (const bin of bins) {
      const help = await run('pnpm', ['exec', bin, '--help'], { cwd: copy, env, timeoutMs: 60_000 });
      expect(help.code, `${bin}: ${help.stderr}`).toBe(0);
      expect(help.stdout, bin).toMatch(/^Usage: /m);
    }
  });

  it('SIGTERM stops it and removes every socket', async () => {
    const code = await stopSuite(suite);
    expect(code).toBe(0);
    expect(await socketsUnder(root())).toEqual([]);
  });

  it('with SCOPE_PLUGINS_INSTALL_BPFTRACE=1 asks apt for bpftrace, and for nothing else', async () => {
    await rm(recordLog, { force: true });
    const consent = startSuite(['http-stats', '--root', join(work, 'root-2')], { SCOPE_PLUGINS_INSTALL_BPFTRACE: '1' });
    try {
      await untilServing(consent, join(work, 'root-2'), 1, 300_000);
    } finally {
      await stopSuite(consent);
    }
    const recorded = (await readFile(recordLog, 'utf8')).trim().split('\n');
    expect(recorded).toEqual(['apt-get update -qq', 'apt-get install -y -qq --no-install-recommends bpftrace']);
    // Only http-stats was asked for: one preflight line.
    expect(consent.output().split('\n').filter((line) => line.startsWith('[preflight] '))).toHaveLength(1);
  }, 320_000);
});
