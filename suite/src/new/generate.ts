/**
 * `scope-plugins new <id>`: writes a complete plugin package (definition, collector, parser, tests on
 * a fixture, README, bin) from the template folder shipped with this package, for inside this
 * repository's pnpm workspace (`workspace:*` core, the shared tsconfig, `catalog:` versions) or for
 * anywhere else with plain npm (the published core version, pinned tool versions).
 */
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PLUGIN_ID_PATTERN, isValidPluginId } from '@scope-plugins/core';

/** The template folder: every `*.tpl` file is written with its placeholders filled in, other files as they are. */
export const TEMPLATE_DIR = fileURLToPath(new URL('../../template', import.meta.url));

/**
 * Versions a standalone package pins for its tools: the workspace catalog's (a test keeps them equal).
 * A package made inside the workspace uses `catalog:` instead.
 */
export const STANDALONE_DEV_DEPENDENCIES: Readonly<Record<string, string>> = {
  '@types/node': '^20.19.0',
  typescript: '~5.9.0',
  vitest: '~4.1.0',
};

/** Options of {@link generatePlugin}. */
export interface GenerateOptions {
  /** Plugin id: Scope's rule, lowercase (it is also an npm package name). */
  id: string;
  /** Target directory. @default `<workspace>/plugins/<id>` inside this repository's workspace, else `./<id>` */
  dir?: string;
  /** Where relative paths start and the workspace is looked for. @default process.cwd() */
  cwd?: string;
}

/** What {@link generatePlugin} made. */
export interface GeneratedPlugin {
  dir: string;
  packageName: string;
  bin: string;
  /** The workspace root when the package belongs to this repository's workspace. */
  workspaceRoot: string | undefined;
  files: string[];
  /** Commands to build, test, serve and check it, for the user. */
  nextSteps: string[];
}

/** Throws a TypeError saying which rule `id` breaks (Scope's plugin id rule, npm's lowercase names). */
export function validateNewPluginId(id: string): void {
  if (!isValidPluginId(id)) {
    throw new TypeError(
      `invalid plugin id ${JSON.stringify(id)}: Scope requires ${PLUGIN_ID_PATTERN} (letters and digits, single hyphens between them: e.g. "disk-temp"); the id is also the socket's name <root>/<id>/<id>.sock`,
    );
  }
  if (id !== id.toLowerCase()) {
    throw new TypeError(`invalid plugin id ${JSON.stringify(id)}: Scope accepts it, but it also names the npm package, and npm names are lowercase: use ${JSON.stringify(id.toLowerCase())}`);
  }
}

/** This repository's workspace root above `from` (a pnpm-workspace.yaml beside shared/core), if any. */
export function findWorkspaceRoot(from: string): string | undefined {
  for (let dir = resolve(from); ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'pnpm-workspace.yaml')) && existsSync(join(dir, 'shared', 'core', 'package.json'))) return dir;
    if (dirname(dir) === dir) return undefined;
  }
}

/** `disk-temp` → `Disk Temp`. */
function labelOf(id: string): string {
  return id.split('-').map((word) => word.charAt(0).toUpperCase() + word.slice(1)).join(' ');
}

async function coreVersion(): Promise<string> {
  // The core this suite runs with is the one the generated code was written against.
  const entry = fileURLToPath(import.meta.resolve('@scope-plugins/core'));
  const manifest = JSON.parse(await readFile(join(dirname(entry), '..', 'package.json'), 'utf8')) as { version: string };
  return manifest.version;
}

async function listTemplate(dir: string, prefix = ''): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(join(dir, prefix), { withFileTypes: true })) {
    const path = prefix ? `${prefix}/${entry.name}` : entry.name;
    if (entry.isDirectory()) out.push(...(await listTemplate(dir, path)));
    else out.push(path);
  }
  return out.sort();
}

function fill(text: string, values: Record<string, string>): string {
  return text.replace(/\{\{(\w+)\}\}/g, (whole, name: string) => {
    const value = values[name];
    if (value === undefined) throw new Error(`template placeholder ${whole} has no value`);
    return value;
  });
}

/** Writes the plugin package; throws when the id is invalid or the directory exists and is not empty. */
export async function generatePlugin(options: GenerateOptions): Promise<GeneratedPlugin> {
  const { id } = options;
  validateNewPluginId(id);
  const cwd = resolve(options.cwd ?? process.cwd());
  const cwdWorkspace = findWorkspaceRoot(cwd);
  const dir = resolve(cwd, options.dir ?? (cwdWorkspace ? join(cwdWorkspace, 'plugins', id) : id));
  if (existsSync(dir) && (await readdir(dir)).length > 0) {
    throw new TypeError(`${dir} exists and is not empty: choose another --dir (nothing was written)`);
  }
  const workspaceRoot = findWorkspaceRoot(dir);
  const packageName = workspaceRoot ? `@scope-plugins/${id}` : `scope-plugin-${id}`;
  const bin = `scope-${id}`;
  const key = id.replace(/-/g, '_').toLowerCase();
  const nextSteps = workspaceRoot
    ? [
        `cd ${relative(cwd, workspaceRoot) || '.'}`,
        'pnpm install',
        `pnpm --filter ${packageName}... run build`,
        `pnpm --filter ${packageName} test`,
        `node ${relative(workspaceRoot, join(dir, 'dist', 'cli.js'))} --once`,
        `node ${relative(workspaceRoot, join(dir, 'dist', 'cli.js'))} --root /tmp/scope-plugins &`,
        'pnpm exec scope-plugins doctor /tmp/scope-plugins',
      ]
    : [`cd ${relative(cwd, dir) || '.'}`, 'npm install', 'npm run build', 'npm test', 'node dist/cli.js --once', 'node dist/cli.js --root /tmp/scope-plugins &', 'npx scope-plugin-doctor /tmp/scope-plugins'];
  const values: Record<string, string> = {
    id,
    key,
    ENV: key.toUpperCase(),
    label: labelOf(id),
    packageName,
    bin,
    commands: nextSteps.join('\n'),
  };

  const files: Record<string, string> = {};
  for (const path of await listTemplate(TEMPLATE_DIR)) {
    const text = await readFile(join(TEMPLATE_DIR, path), 'utf8');
    if (!path.endsWith('.tpl')) files[path] = text;
    else if (path === 'gitignore.tpl') files['.gitignore'] = text; // npm drops real .gitignore files from packages
    else files[path.slice(0, -'.tpl'.length)] = fill(text, values);
  }
  const version = await coreVersion();
  files['package.json'] = `${JSON.stringify(packageManifest({ packageName, bin, id, workspace: workspaceRoot !== undefined, coreVersion: version }), null, 2)}\n`;
  const base = workspaceRoot ? relative(dir, join(workspaceRoot, 'shared', 'tsconfig', 'base.json')) : undefined;
  files['tsconfig.json'] = `${JSON.stringify(tsconfig(base, { rootDir: '.', noEmit: true }, ['src', 'test']), null, 2)}\n`;
  files['tsconfig.build.json'] = `${JSON.stringify(tsconfig(base, { rootDir: 'src', outDir: 'dist' }, ['src']), null, 2)}\n`;

  for (const [path, text] of Object.entries(files)) {
    await mkdir(dirname(join(dir, path)), { recursive: true });
    await writeFile(join(dir, path), text, { mode: path === 'src/cli.ts' ? 0o755 : 0o644 });
  }
  return { dir, packageName, bin, workspaceRoot, files: Object.keys(files).sort(), nextSteps };
}

function packageManifest(p: { packageName: string; bin: string; id: string; workspace: boolean; coreVersion: string }): Record<string, unknown> {
  return {
    name: p.packageName,
    version: '0.1.0',
    description: `Weave Scope plugin ${p.id} (made with scope-plugins new)`,
    keywords: ['weave-scope', 'scope-plugin'],
    type: 'module',
    engines: { node: '>=20.11' },
    main: './dist/index.js',
    types: './dist/index.d.ts',
    exports: { '.': { types: './dist/index.d.ts', import: './dist/index.js' } },
    bin: { [p.bin]: './dist/cli.js' },
    files: ['dist', '!dist/**/*.map', 'README.md'],
    scripts: { build: 'tsc -p tsconfig.build.json', typecheck: 'tsc -p tsconfig.json --noEmit', test: 'vitest run' },
    dependencies: { '@scope-plugins/core': p.workspace ? 'workspace:*' : `^${p.coreVersion}` },
    devDependencies: p.workspace
      ? { '@scope-plugins/tsconfig': 'workspace:*', '@types/node': 'catalog:', typescript: 'catalog:', vitest: 'catalog:' }
      : { ...STANDALONE_DEV_DEPENDENCIES },
  };
}

/** The workspace's base options, inlined for a standalone package (it has no shared tsconfig to extend). */
const STANDALONE_COMPILER_OPTIONS = {
  target: 'ES2022',
  lib: ['ES2023'],
  module: 'NodeNext',
  moduleResolution: 'NodeNext',
  strict: true,
  noUncheckedIndexedAccess: true,
  noImplicitOverride: true,
  declaration: true,
  sourceMap: true,
  esModuleInterop: true,
  skipLibCheck: true,
  forceConsistentCasingInFileNames: true,
  types: ['node'],
};

function tsconfig(base: string | undefined, own: Record<string, unknown>, include: string[]): Record<string, unknown> {
  return base ? { extends: base, compilerOptions: own, include } : { compilerOptions: { ...STANDALONE_COMPILER_OPTIONS, ...own }, include };
}
