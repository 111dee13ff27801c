/**
 * npm distribution: every publishable package is packed with `pnpm pack` (which rewrites `workspace:*`
 * and `catalog:`), the tarballs are installed with plain npm into an empty directory outside the
 * workspace (third-party dependencies come from the npm registry), and then used exactly as a user
 * would: every bin with --help and --once, the packages' ESM exports and TypeScript types, and one
 * plugin served on a temporary root and checked by the installed `scope-plugins doctor`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { diagnoseReportBody, hasProblems, type Diagnosis } from '@scope-plugins/core';
import { requireComponent } from '@scope-plugins/core/testing';
import { pluginPackages, publishablePackages, type WorkspacePackage } from './helpers/packages.js';
import { DEPLOY_DIR, REPO_ROOT, onPath, run, runOk, waitFor } from './helpers/run.js';

const HOST_ID = 'npm-test-host';
const packages = publishablePackages();
const plugins = pluginPackages();

let work: string;
let installDir: string;
const tarballs = new Map<string, string>();

/** The report declares at least one topology, and any host node in it is this host's. */
function expectOwnTopologies(diagnosis: Diagnosis) {
  expect(Object.keys(diagnosis.topologies).length, 'topologies').toBeGreaterThan(0);
  for (const node of diagnosis.topologies['Host']?.nodes ?? []) expect(node).toBe(`${HOST_ID};<host>`);
}

function binPath(name: string): string {
  return join(installDir, 'node_modules', '.bin', name);
}

/** Runs an installed bin with the node running the tests (bins are `#!/usr/bin/env node` scripts). */
function runBin(name: string, args: string[], env: NodeJS.ProcessEnv = {}, timeoutMs = 60_000) {
  return run(process.execPath, [binPath(name), ...args], { cwd: installDir, env: { ...process.env, SCOPE_HOSTNAME: HOST_ID, ...env }, timeoutMs });
}

async function tarList(tarball: string): Promise<string[]> {
  const { stdout } = await runOk('tar', ['-tzf', tarball]);
  return stdout.split('\n').filter(Boolean);
}

async function tarManifest(tarball: string): Promise<Record<string, unknown>> {
  const { stdout } = await runOk('tar', ['-xzOf', tarball, 'package/package.json']);
  return JSON.parse(stdout) as Record<string, unknown>;
}

beforeAll(async () => {
  // Outside the workspace, so nothing resolves through pnpm's node_modules by accident.
  work = await mkdtemp(join(tmpdir(), 'scope-plugins-npm-'));
  await chmod(work, 0o755);
  const packs = join(work, 'packs');
  installDir = join(work, 'app');
  await mkdir(packs);
  await mkdir(installDir);
  for (const pkg of packages) {
    const before = new Set(await readdir(packs));
    await runOk('pnpm', ['pack', '--pack-destination', packs], { cwd: pkg.dir, timeoutMs: 60_000 });
    const made = (await readdir(packs)).filter((f) => !before.has(f));
    if (made.length !== 1) throw new Error(`pnpm pack in ${pkg.dir} made ${made.join(', ') || 'nothing'}`);
    tarballs.set(pkg.name, join(packs, made[0]!));
  }
  const specs = Object.fromEntries([...tarballs].map(([name, file]) => [name, `file:${file}`]));
  // overrides: the packages' dependencies on each other resolve to these tarballs, never to the registry.
  await writeFile(join(installDir, 'package.json'), JSON.stringify({ name: 'scope-plugins-npm-check', version: '0.0.0', private: true, type: 'module', dependencies: specs, overrides: specs }, null, 2));
  await runOk('npm', ['install', '--no-audit', '--no-fund', '--loglevel=error'], { cwd: installDir, timeoutMs: 300_000 });
}, 600_000);

afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

describe('packed tarballs', () => {
  it('covers core, docker, cri, the suite and the four plugins', () => {
    expect([...tarballs.keys()].sort()).toEqual(
      ['@scope-plugins/core', '@scope-plugins/cri', '@scope-plugins/docker', '@scope-plugins/host-namespaces', '@scope-plugins/http-stats', '@scope-plugins/iowait', '@scope-plugins/volume-count', 'scope-plugins'].sort(),
    );
  });

  it.each(packages.map((p) => [p.name, p] as const))('%s: manifest is publishable (no workspace:/catalog:, exports with types, engines, license, repository)', async (name, pkg) => {
    const manifest = await tarManifest(tarballs.get(name)!);
    const text = JSON.stringify(manifest);
    expect(text).not.toMatch(/workspace:|catalog:/);
    expect(manifest['engines']).toEqual({ node: expect.stringMatching(/^>=20/) });
    expect(manifest['license']).toBe('Apache-2.0');
    expect(manifest['type']).toBe('module');
    expect(manifest['repository']).toMatchObject({ type: 'git', url: expect.stringContaining('scope-plugins'), directory: expect.any(String) });
    const exports = manifest['exports'] as Record<string, { types?: string; import?: string }>;
    expect(exports['.']).toMatchObject({ types: expect.stringMatching(/\.d\.ts$/), import: expect.stringMatching(/\.js$/) });
    // Dependencies on sibling packages are pinned to the version being published together.
    for (const [dep, range] of Object.entries((manifest['dependencies'] as Record<string, string>) ?? {})) {
      if (tarballs.has(dep)) expect(range, `${name} -> ${dep}`).toBe(packages.find((p) => p.name === dep)!.version);
    }
    expect(pkg.version).toBe(manifest['version']);
  });

  it.each(packages.map((p) => [p.name, p] as const))('%s: ships dist, README and every file its manifest points at, and no sources or tests', async (name, pkg: WorkspacePackage) => {
    const files = (await tarList(tarballs.get(name)!)).map((f) => f.replace(/^package\//, ''));
    expect(files).toContain('README.md');
    expect(files).toContain('package.json');
    const manifest = await tarManifest(tarballs.get(name)!);
    const pointed = [
      ...Object.values(manifest['exports'] as Record<string, Record<string, string>>).flatMap((e) => Object.values(e)),
      ...Object.values(pkg.bins),
      manifest['main'],
      manifest['types'],
    ].filter((p): p is string => typeof p === 'string');
    for (const target of pointed) expect(files, `${name} points at ${target}`).toContain(target.replace(/^\.\//, ''));
    expect(files.filter((f) => /^(src|test)\/|\.map$|^tsconfig|^vitest/.test(f))).toEqual([]);
  });

  it('http-stats ships its bpftrace program', async () => {
    expect(await tarList(tarballs.get('@scope-plugins/http-stats')!)).toContain('package/bpf/http-stats.bt');
  });
});

describe('installed with npm outside the workspace', () => {
  const allBins = packages.flatMap((p) => Object.keys(p.bins).map((bin) => [bin, p.name] as const));

  it('installed every bin', async () => {
    expect(allBins.map(([bin]) => bin).sort()).toEqual(['scope-host-namespaces', 'scope-http-stats', 'scope-iowait', 'scope-plugin-doctor', 'scope-plugins', 'scope-volume-count']);
    for (const [bin] of allBins) expect((await stat(binPath(bin))).mode & 0o111, bin).not.toBe(0);
  });

  it.each(allBins)('%s --help', async (bin) => {
    const result = await runBin(bin, ['--help']);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/^Usage: /);
    if (bin.startsWith('scope-') && plugins.has(bin.slice('scope-'.length))) {
      for (const flag of ['--root', '--once', '--log-level', '--interval-ms', '--proc-root', '--sys-root', '--socket-mode']) expect(result.stdout).toContain(flag);
    }
  });

  it('scope-plugins list names the four plugins', async () => {
    const result = await runBin('scope-plugins', ['list']);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout.split('\n').filter(Boolean).map((l) => l.split('\t')[0]).sort()).toEqual([...plugins.keys()].sort());
  });

  it.for([...plugins.keys()])('scope-%s --once prints one report Scope accepts', async (id, ctx) => {
    if (id === 'volume-count' || id === 'host-namespaces') requireComponent(ctx, 'Docker engine', onPath('docker'), 'run scripts/provision.sh');
    const result = await runBin(`scope-${id}`, ['--once', '--log-level', 'warn'], {}, 90_000);
    expect(result.code, result.stderr).toBe(0);
    const diagnosis = diagnoseReportBody(result.stdout, { pluginId: id, hostId: HOST_ID });
    expect(diagnosis.status, result.stdout.slice(0, 2000)).toBe('ok');
    expect(diagnosis.violations.filter((v) => v.kind !== 'note')).toEqual([]);
    expectOwnTopologies(diagnosis);
  });

  it('scope-plugins run --once prints one report per plugin', async () => {
    const result = await runBin('scope-plugins', ['run', 'iowait', 'volume-count', '--once', '--log-level', 'warn'], {}, 90_000);
    expect(result.code, result.stderr).toBe(0);
    const reports = JSON.parse(result.stdout) as Record<string, unknown>;
    expect(Object.keys(reports).sort()).toEqual(['iowait', 'volume-count']);
    for (const [id, report] of Object.entries(reports)) expect(hasProblems(diagnoseReportBody(JSON.stringify(report), { pluginId: id, hostId: HOST_ID }))).toBe(false);
  });

  it('scope-http-stats --once without bpftrace access (not root) still prints a valid report and says why', async (ctx) => {
    requireComponent(ctx, 'setpriv (util-linux)', onPath('setpriv'), 'apt-get install util-linux');
    const result = await run(
      'setpriv',
      ['--reuid=65534', '--regid=65534', '--clear-groups', '--inh-caps=-all', process.execPath, binPath('scope-http-stats'), '--once'],
      { cwd: '/', env: { ...process.env, SCOPE_HOSTNAME: HOST_ID, HOME: '/nonexistent' }, timeoutMs: 60_000 },
    );
    expect(result.code, result.stderr).toBe(0);
    const diagnosis = diagnoseReportBody(result.stdout, { pluginId: 'http-stats', hostId: HOST_ID });
    expect(diagnosis.status).toBe('ok');
    expectOwnTopologies(diagnosis);
    expect(diagnosis.violations.filter((v) => v.kind !== 'note')).toEqual([]);
    // The explanation reaches both the log and the report Scope shows.
    expect(result.stderr).toMatch(/root|CAP_|bpftrace/);
    expect(result.stdout).toMatch(/root|CAP_|bpftrace/);
  });

  it('imports every package as ESM and exports each plugin definition as `plugin`', async () => {
    const script = `
      const out = {};
      for (const [id, name] of ${JSON.stringify([...plugins].map(([id, p]) => [id, p.name]))}) out[id] = (await import(name)).plugin?.id;
      out.suite = [...(await import('scope-plugins')).SUITE_PLUGINS.keys()].sort();
      out.core = typeof (await import('@scope-plugins/core')).definePlugin;
      out.testing = typeof (await import('@scope-plugins/core/testing')).startTestPlugin;
      out.docker = Object.keys(await import('@scope-plugins/docker')).length;
      console.log(JSON.stringify(out));`;
    const result = await runOk(process.execPath, ['--input-type=module', '-e', script], { cwd: installDir });
    const out = JSON.parse(result.stdout) as Record<string, unknown>;
    for (const id of plugins.keys()) expect(out[id]).toBe(id);
    expect(out['suite']).toEqual([...plugins.keys()].sort());
    expect(out['core']).toBe('function');
    expect(out['testing']).toBe('function');
    expect(out['docker']).toBeGreaterThan(0);
  });

  it('TypeScript resolves every package through its exports with real types (NodeNext, strict)', async () => {
    const imports = [...plugins].map(([id, p], i) => `import { plugin as p${i} } from '${p.name}'; ids.push(p${i}.id); // ${id}`);
    const source = [
      `const ids: string[] = [];`,
      ...imports,
      `import { definePlugin, hostNodeId, type ResolvedPluginDefinition } from '@scope-plugins/core';`,
      `import { startTestPlugin } from '@scope-plugins/core/testing';`,
      `import { SUITE_PLUGINS } from 'scope-plugins';`,
      `import * as docker from '@scope-plugins/docker';`,
      `const defs: ResolvedPluginDefinition[] = [...SUITE_PLUGINS.values()];`,
      `const host: string = hostNodeId('h');`,
      `// @ts-expect-error an id is a string: fails to compile if the types were missing (any)`,
      `const wrong: number = p0.id;`,
      `export { ids, defs, host, wrong, definePlugin, startTestPlugin, docker };`,
    ].join('\n');
    await writeFile(join(installDir, 'consumer.ts'), source);
    const tsc = join(DEPLOY_DIR, 'node_modules', 'typescript', 'bin', 'tsc');
    const result = await run(
      process.execPath,
      [tsc, '--noEmit', '--strict', '--module', 'nodenext', '--moduleResolution', 'nodenext', '--target', 'es2022', '--types', 'node', '--typeRoots', join(DEPLOY_DIR, 'node_modules', '@types'), 'consumer.ts'],
      { cwd: installDir },
    );
    expect(result.code, `${result.stdout}${result.stderr}`).toBe(0);
  });

  it("core's README example plugin compiles against the installed package", async () => {
    const readme = await readFile(join(REPO_ROOT, 'shared', 'core', 'README.md'), 'utf8');
    const section = readme.slice(readme.indexOf('## Writing a plugin'));
    const example = /```ts\n([\s\S]*?)```/.exec(section)?.[1];
    expect(example, 'a ts code block under "## Writing a plugin"').toBeDefined();
    await writeFile(join(installDir, 'readme-example.ts'), example!);
    const tsc = join(DEPLOY_DIR, 'node_modules', 'typescript', 'bin', 'tsc');
    const result = await run(
      process.execPath,
      [tsc, '--noEmit', '--strict', '--module', 'nodenext', '--moduleResolution', 'nodenext', '--target', 'es2022', '--types', 'node', '--typeRoots', join(DEPLOY_DIR, 'node_modules', '@types'), 'readme-example.ts'],
      { cwd: installDir },
    );
    expect(result.code, `${result.stdout}${result.stderr}`).toBe(0);
  });

  describe('a served plugin passes the installed doctor', () => {
    let root: string;
    let child: ChildProcess | undefined;
    let stderr = '';

    beforeAll(async () => {
      root = await mkdtemp(join(tmpdir(), 'sp-npm-'));
      child = spawn(process.execPath, [binPath('scope-iowait'), '--root', root, '--log-level', 'info'], { cwd: installDir, env: { ...process.env, SCOPE_HOSTNAME: HOST_ID }, stdio: ['ignore', 'ignore', 'pipe'] });
      child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
      await waitFor('the iowait socket', async () => ((await stat(join(root, 'iowait', 'iowait.sock')).catch(() => undefined))?.isSocket() ? true : undefined), 30_000);
    });

    afterAll(async () => {
      if (child && child.exitCode === null) child.kill('SIGKILL');
      await rm(root, { recursive: true, force: true });
    });

    it('scope-plugins doctor <socket> and scope-plugin-doctor <root> report it ok', async () => {
      const socket = join(root, 'iowait', 'iowait.sock');
      // The first report may still be on its way (iowait needs two /proc/stat samples): allow a few polls.
      const viaSuite = await waitFor('doctor ok', async () => {
        const r = await runBin('scope-plugins', ['doctor', socket]);
        return r.code === 0 ? r : undefined;
      }, 20_000, 500).catch(async (error: Error) => {
        const r = await runBin('scope-plugins', ['doctor', socket]);
        throw new Error(`${error.message}\n${r.stdout}\n${r.stderr}\nplugin log:\n${stderr}`);
      });
      expect(viaSuite.stdout).toContain('status: ok');
      expect(viaSuite.stdout).toContain('violations: none');
      const viaCore = await runBin('scope-plugin-doctor', [root, '--json']);
      expect(viaCore.code, viaCore.stdout + viaCore.stderr).toBe(0);
      const entries = JSON.parse(viaCore.stdout) as { diagnosis: { pluginId: string; status: string } }[];
      expect(entries.map((e) => [e.diagnosis.pluginId, e.diagnosis.status])).toEqual([['iowait', 'ok']]);
    });

    it('stops on SIGTERM and removes its socket', async () => {
      const exited = new Promise<number | null>((resolve) => child!.once('exit', (code) => resolve(code)));
      child!.kill('SIGTERM');
      expect(await exited).toBe(0);
      await expect(stat(join(root, 'iowait', 'iowait.sock'))).rejects.toMatchObject({ code: 'ENOENT' });
    });
  });
});
