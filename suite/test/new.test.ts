/**
 * `scope-plugins new` end to end, through the real CLI: invalid ids are refused with Scope's rule; a
 * generated package, with no edit, installs, builds, passes its own tests, serves its socket and
 * passes the doctor — standalone with plain npm outside the workspace (core from a `pnpm pack`
 * tarball, its tools from the npm registry) and inside a copy of this workspace (pnpm, workspace:*).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { PLUGIN_ID_PATTERN, pluginSocketPath } from '@scope-plugins/core';
import { requireComponent } from '@scope-plugins/core/testing';
import { STANDALONE_DEV_DEPENDENCIES } from '../src/new/generate.js';

const CLI = fileURLToPath(new URL('../dist/cli.js', import.meta.url));
const SUITE_DIR = fileURLToPath(new URL('..', import.meta.url));
const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));
const CORE_DIR = join(REPO_ROOT, 'shared', 'core');
const HOST = 'new-test-host';
/** What `new` writes, whatever the id. */
const FILES = [
  '.gitignore',
  'README.md',
  'package.json',
  'src/cli.ts',
  'src/collect.ts',
  'src/index.ts',
  'src/parse.ts',
  'test/fixtures/README.md',
  'test/fixtures/proc/loadavg',
  'test/parse.test.ts',
  'test/plugin.test.ts',
  'tsconfig.build.json',
  'tsconfig.json',
  'vitest.config.ts',
];

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a command to completion (bounded), collecting its output. */
function run(command: string, args: string[], cwd: string, timeoutMs = 300_000, env: NodeJS.ProcessEnv = process.env): Promise<Result> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

async function runOk(command: string, args: string[], cwd: string, timeoutMs?: number, env?: NodeJS.ProcessEnv): Promise<Result> {
  const result = await run(command, args, cwd, timeoutMs, env);
  if (result.code !== 0) throw new Error(`${command} ${args.join(' ')} (in ${cwd}) exited ${result.code}\n${result.stdout.slice(-3000)}\n${result.stderr.slice(-3000)}`);
  return result;
}

/** Every file under `dir`, relative, sorted (node_modules and dist left out). */
async function filesUnder(dir: string): Promise<string[]> {
  return (await readdir(dir, { recursive: true, withFileTypes: true }))
    .filter((entry) => entry.isFile())
    .map((entry) => join(entry.parentPath, entry.name).slice(dir.length + 1))
    .filter((path) => !path.startsWith('node_modules/') && !path.startsWith('dist/'))
    .sort();
}

/** Starts a generated plugin's bin on `root`; resolves once its socket exists. */
async function serve(cliPath: string, id: string, root: string, cwd: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, [cliPath, '--root', root, '--log-level', 'warn'], { cwd, env: { ...process.env, SCOPE_HOSTNAME: HOST }, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const deadline = Date.now() + 30_000;
  while (!existsSync(pluginSocketPath(root, id))) {
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`${id} did not serve on ${root}: ${stderr}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return child;
}

async function stop(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null) return child.exitCode;
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  child.kill('SIGTERM');
  return exited;
}

describe('scope-plugins new: refusals', () => {
  it("refuses ids Scope would not load, quoting Scope's rule", async () => {
    for (const id of ['bad_id', 'trailing-', '-lead', 'two--hyphens', 'dot.ted']) {
      // `--` so that "-lead" is taken as the id, not as an option.
      const result = await run(process.execPath, [CLI, 'new', '--dir', join(tmpdir(), 'never-written'), '--', id], SUITE_DIR);
      expect(result.code, id).toBe(1);
      expect(result.stderr, id).toContain(`invalid plugin id ${JSON.stringify(id)}: Scope requires ${PLUGIN_ID_PATTERN}`);
    }
    expect(existsSync(join(tmpdir(), 'never-written'))).toBe(false);
  });

  it('refuses an id with capitals (a valid Scope id, but not an npm name), suggesting the lowercase one', async () => {
    const result = await run(process.execPath, [CLI, 'new', 'DiskTemp', '--dir', join(tmpdir(), 'never-written')], SUITE_DIR);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('npm names are lowercase: use "disktemp"');
  });

  it('refuses a directory that is not empty, writing nothing', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sp-new-full-'));
    try {
      await writeFile(join(dir, 'keep.txt'), 'mine');
      const result = await run(process.execPath, [CLI, 'new', 'demo', '--dir', dir], SUITE_DIR);
      expect(result.code).toBe(1);
      expect(result.stderr).toContain(`${dir} exists and is not empty`);
      expect(await readdir(dir)).toEqual(['keep.txt']);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("pins the workspace catalog's tool versions in standalone packages", async () => {
    const catalog = await readFile(join(REPO_ROOT, 'pnpm-workspace.yaml'), 'utf8');
    for (const [name, version] of Object.entries(STANDALONE_DEV_DEPENDENCIES)) {
      expect(catalog, name).toMatch(new RegExp(`^\\s+"?${name.replace('/', '\\/')}"?: ${version.replace(/[.^~]/g, '\\$&')}\\s*$`, 'm'));
    }
  });
});

/** The checks both flavours share: generated files, install done by the caller, then build, test, --once, serve + doctor. */
async function buildTestServeDoctor(p: { id: string; dir: string; build: () => Promise<Result>; test: () => Promise<Result>; doctor: (root: string) => Promise<Result> }) {
  expect(await filesUnder(p.dir)).toEqual(FILES);
  await p.build();
  const tests = await p.test();
  // Both generated test files ran and passed (vitest prints "Test Files  2 passed", in colour).
  expect(`${tests.stdout}${tests.stderr}`.replace(/\x1b\[[0-9;]*m/g, '')).toMatch(/Test Files\s+2 passed \(2\)/);

  const once = await runOk(process.execPath, [join(p.dir, 'dist', 'cli.js'), '--once', '--proc-root', join(p.dir, 'test', 'fixtures', 'proc')], p.dir, 60_000, { ...process.env, SCOPE_HOSTNAME: HOST });
  const key = p.id.replace(/-/g, '_');
  const latest = (JSON.parse(once.stdout) as { Host: { nodes: Record<string, { latest: Record<string, { value: string }> }> } }).Host.nodes[`${HOST};<host>`]!.latest;
  expect(latest[`${key}_load1`]?.value).toBe('14.19');

  const root = await mkdtemp(join(tmpdir(), 'sp-new-root-'));
  const served = await serve(join(p.dir, 'dist', 'cli.js'), p.id, root, p.dir);
  try {
    const doctor = await p.doctor(root);
    expect(doctor.code, doctor.stdout + doctor.stderr).toBe(0);
    expect(doctor.stdout).toContain(`plugin ${p.id} (${pluginSocketPath(root, p.id)})`);
    expect(doctor.stdout).toContain('status: ok');
    expect(doctor.stdout).toContain('violations: none');
  } finally {
    expect(await stop(served)).toBe(0);
    await rm(root, { recursive: true, force: true });
  }
}

const haveTools = ['npm', 'pnpm', 'git', 'tar'].every((tool) => (process.env['PATH'] ?? '').split(':').some((dir) => dir && existsSync(join(dir, tool))));

describe('scope-plugins new: standalone, with plain npm', () => {
  const id = 'load-demo';
  let work: string;
  let dir: string;
  let made: Result;

  beforeEach((ctx) => requireComponent(ctx, 'npm, pnpm, git and tar', haveTools, 'run scripts/provision.sh'));

  beforeAll(async () => {
    if (!haveTools) return;
    work = await mkdtemp(join(tmpdir(), 'sp-new-npm-'));
    await chmod(work, 0o755);
    made = await runOk(process.execPath, [CLI, 'new', id], work);
    dir = join(work, id);
  }, 60_000);

  afterAll(async () => {
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('writes the package where it was run, and says how to go on', () => {
    expect(made.stdout).toContain(`wrote scope-plugin-${id} in ${dir}`);
    expect(made.stdout).toContain('npm install');
  });

  it('depends on the published core version and pins its tools', async () => {
    const manifest = JSON.parse(await readFile(join(dir, 'package.json'), 'utf8')) as Record<string, any>;
    const core = JSON.parse(await readFile(join(CORE_DIR, 'package.json'), 'utf8')) as { version: string };
    expect(manifest).toMatchObject({ name: `scope-plugin-${id}`, bin: { [`scope-${id}`]: './dist/cli.js' }, dependencies: { '@scope-plugins/core': `^${core.version}` }, devDependencies: STANDALONE_DEV_DEPENDENCIES });
    expect(JSON.stringify(manifest)).not.toMatch(/workspace:|catalog:/);
  });

  it('installs with npm (core from a pnpm pack tarball), builds, passes its tests, serves and passes the doctor, with no edit', async () => {
    const packs = join(work, 'packs');
    await mkdir(packs);
    await runOk('pnpm', ['pack', '--pack-destination', packs], CORE_DIR, 120_000);
    const tarball = join(packs, (await readdir(packs)).find((name) => name.endsWith('.tgz'))!);
    const before = await readFile(join(dir, 'package.json'), 'utf8');
    // --no-save: the generated package.json keeps its registry range, as a user would publish it.
    await runOk('npm', ['install', '--no-save', '--no-audit', '--no-fund', tarball], dir, 600_000);
    expect(await readFile(join(dir, 'package.json'), 'utf8')).toBe(before);
    await buildTestServeDoctor({
      id,
      dir,
      // The build compiles src/; typecheck also checks the tests, as strictly.
      build: async () => (await runOk('npm', ['run', 'build'], dir, 300_000), runOk('npm', ['run', 'typecheck'], dir, 300_000)),
      test: () => runOk('npm', ['test'], dir, 300_000),
      doctor: (root) => run('npx', ['--no-install', 'scope-plugin-doctor', root], dir, 60_000, { ...process.env, SCOPE_HOSTNAME: HOST }),
    });
  }, 1_200_000);
});

describe('scope-plugins new: inside the workspace, with pnpm', () => {
  const id = 'load-demo';
  let work: string;
  let copy: string;
  let dir: string;

  beforeEach((ctx) => requireComponent(ctx, 'npm, pnpm, git and tar', haveTools, 'run scripts/provision.sh'));

  beforeAll(async () => {
    if (!haveTools) return;
    work = await mkdtemp(join(tmpdir(), 'sp-new-ws-'));
    await chmod(work, 0o755);
    copy = join(work, 'repo');
    await mkdir(copy);
    // A copy of this workspace as a clone has it (tracked and new files; no node_modules, no dist).
    await runOk('bash', ['-c', `git ls-files -z -co --exclude-standard | tar --null -T - -c | tar -x -C '${copy}'`], REPO_ROOT);
    // Run from the workspace root: the default place is plugins/<id>.
    await runOk(process.execPath, [CLI, 'new', id], copy);
    dir = join(copy, 'plugins', id);
  }, 120_000);

  afterAll(async () => {
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('is a workspace package: workspace:* core, the shared tsconfig, catalog versions', async () => {
    const manifest = JSON.parse(await readFile(join(dir, 'package.json'), 'utf8')) as Record<string, any>;
    expect(manifest).toMatchObject({
      name: `@scope-plugins/${id}`,
      dependencies: { '@scope-plugins/core': 'workspace:*' },
      devDependencies: { '@scope-plugins/tsconfig': 'workspace:*', '@types/node': 'catalog:', typescript: 'catalog:', vitest: 'catalog:' },
    });
    expect(JSON.parse(await readFile(join(dir, 'tsconfig.json'), 'utf8'))).toMatchObject({ extends: '../../shared/tsconfig/base.json' });
  });

  it('installs, builds, passes its tests, serves and passes the doctor, with no edit', async () => {
    const pkg = `@scope-plugins/${id}`;
    // A new importer: the lockfile gains it (CI=true would make pnpm refuse to touch it).
    await runOk('pnpm', ['install', '--no-frozen-lockfile', '--reporter=append-only'], copy, 600_000);
    await buildTestServeDoctor({
      id,
      dir,
      build: async () => (await runOk('pnpm', ['--filter', `${pkg}...`, 'run', 'build'], copy, 600_000), runOk('pnpm', ['--filter', pkg, 'run', 'typecheck'], copy, 300_000)),
      test: () => runOk('pnpm', ['--filter', pkg, 'test'], copy, 300_000),
      doctor: (root) => run('pnpm', ['--filter', pkg, 'exec', 'scope-plugin-doctor', root], copy, 60_000, { ...process.env, SCOPE_HOSTNAME: HOST }),
    });
  }, 1_200_000);
});
