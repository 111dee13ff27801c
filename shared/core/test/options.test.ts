import { spawn } from 'node:child_process';
import { Command } from 'commander';
import { afterEach, describe, expect, expectTypeOf, it } from 'vitest';
import { addCommonOptions, addPluginOptions, definePlugin, resolveOptionValues, type OptionSchema, type Report } from '../src/index.js';
import { startTestPlugin, type TestPlugin } from '../src/testing/index.js';
import { createExamplePlugin } from './example-plugin.js';

const DEMO_BIN = new URL('./fixtures/demo-bin.mjs', import.meta.url).pathname;

function runBin(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [DEMO_BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, SCOPE_HOSTNAME: 'opt-host', ...env } });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
}

const dockerish = { type: 'string', global: true, default: 'unix:///var/run/docker.sock', env: ['DOCKER_HOST'], description: 'endpoint' } as const;

function twoPlugins(extra: { first?: OptionSchema; second?: OptionSchema } = {}) {
  const first = definePlugin({
    id: 'first-one',
    label: 'First',
    description: 'd',
    options: { maxRows: { type: 'number', integer: true, min: 1, default: 10, description: 'rows', deprecatedFlags: ['max-rows'], deprecatedEnv: ['FIRST_MAX_ROWS'] }, dockerHost: dockerish, ...extra.first },
    create: () => ({ collect() {} }),
  });
  const second = definePlugin({
    id: 'second',
    label: 'Second',
    description: 'd',
    options: { maxRows: { type: 'number', default: 5, description: 'rows too' }, docker: { type: 'boolean', default: true, description: 'follow it' }, dockerHost: dockerish, ...extra.second },
    create: () => ({ collect() {} }),
  });
  return [first, second];
}

function parseSuite(argv: string[], env: NodeJS.ProcessEnv = {}, extra?: Parameters<typeof twoPlugins>[0]) {
  const command = addCommonOptions(new Command('suite').exitOverride());
  const reader = addPluginOptions(command, twoPlugins(extra), 'suite');
  command.parse(argv, { from: 'user' });
  return reader.read(command, env);
}

describe('resolveOptionValues', () => {
  const schema = createExamplePlugin().options;

  it('fills in defaults and converts text from flags and env', () => {
    expect(resolveOptionValues('demo', schema, {})).toEqual({ startMode: 'idle', cpus: 2, label: undefined });
    expect(resolveOptionValues('demo', schema, { startMode: 'busy', cpus: '4', label: 'x' })).toEqual({ startMode: 'busy', cpus: 4, label: 'x' });
    const kinds = { on: { type: 'boolean', description: 'b' }, off: { type: 'boolean', default: true, description: 'b' }, types: { type: 'list', values: ['mnt', 'net', 'pid'], description: 'l' } } as const;
    expect(resolveOptionValues('k', kinds, { on: 'yes', off: 'false', types: ' pid,net,pid ' })).toEqual({ on: true, off: false, types: ['net', 'pid'] });
    expect(resolveOptionValues('k', kinds, {})).toEqual({ on: false, off: true, types: undefined });
  });

  it('refuses a bad value with a TypeError naming the flag, the env var and the value', () => {
    expect(() => resolveOptionValues('demo', schema, { cpus: '0' })).toThrow(new TypeError('demo: --cpus (env SCOPE_DEMO_CPUS) must be an integer of at least 1, got "0"'));
    expect(() => resolveOptionValues('demo', schema, { startMode: 'asleep' }, 'suite')).toThrow(new TypeError('demo: --demo.start-mode (env SCOPE_DEMO_START_MODE) must be one of idle, busy, got "asleep"'));
    expect(() => resolveOptionValues('k', { types: { type: 'list', values: ['net', 'pid'], description: 'l' } }, { types: 'net,nope' })).toThrow(
      new TypeError('k: --types (env SCOPE_K_TYPES) must be a comma-separated list of net, pid, got "net,nope" (unknown "nope")'),
    );
    expect(() => resolveOptionValues('demo', schema, { cpu: 3 })).toThrow(new TypeError('plugin demo: unknown option "cpu" (its options: startMode, cpus, label)'));
  });

  it('types create()\'s options by inference', () => {
    definePlugin({
      id: 'typed',
      label: 'Typed',
      description: 'd',
      options: { mode: { type: 'enum', values: ['a', 'b'], default: 'a', description: 'm' }, n: { type: 'number', description: 'n' }, on: { type: 'boolean', description: 'b' } },
      create(ctx) {
        expectTypeOf(ctx.options.mode).toEqualTypeOf<'a' | 'b'>();
        expectTypeOf(ctx.options.n).toEqualTypeOf<number | undefined>();
        expectTypeOf(ctx.options.on).toEqualTypeOf<boolean>();
        return { collect() {} };
      },
    });
  });
});

describe('definePlugin refuses option schemas that would collide or cannot work', () => {
  const define = (options: unknown) => () => definePlugin({ id: 'bad', label: 'Bad', description: 'd', options: options as OptionSchema, create: () => ({ collect() {} }) });
  it.each([
    [{ rows: { type: 'number', description: 'a', deprecatedFlags: ['max'] }, max: { type: 'number', description: 'b' } }, 'plugin bad: options rows and max both use the flag --max'],
    [{ root: { type: 'string', description: 'r' } }, 'plugin bad: option root would take the common flag --root'],
    [{ 'max-rows': { type: 'number', description: 'r' } }, 'plugin bad: option name must be camelCase'],
    [{ mode: { type: 'enum', values: ['a'], default: 'b', description: 'm' } }, 'bad: --mode (env SCOPE_BAD_MODE) must be one of a, got "b"'],
    [{ mode: { type: 'regex', description: 'm' } }, 'plugin bad: option mode needs a type'],
  ])('%j', (options, message) => {
    expect(define(options)).toThrow(message);
  });
});

describe('command line', () => {
  it('namespaces plugin flags in the suite; a global option is one flag for every plugin that declares it', () => {
    const input = parseSuite(['--first-one.max-rows', '3', '--no-second.docker', '--docker-host', 'tcp://d:2375']);
    expect(input).toEqual({
      options: { 'first-one': { maxRows: '3', dockerHost: 'tcp://d:2375' }, second: { docker: false, dockerHost: 'tcp://d:2375' } },
      warnings: [],
    });
    expect(() => parseSuite(['--max-rows-x', '3'])).toThrow(/unknown option '--max-rows-x'/);
  });

  it('reads SCOPE_<PLUGIN>_<OPTION>, then the option\'s other env names; a flag wins over env', () => {
    const env = { SCOPE_FIRST_ONE_MAX_ROWS: '7', SCOPE_SECOND_MAX_ROWS: '8', SCOPE_SECOND_DOCKER: 'false', DOCKER_HOST: 'unix:///d.sock' };
    expect(parseSuite([], env).options).toEqual({ 'first-one': { maxRows: '7', dockerHost: 'unix:///d.sock' }, second: { maxRows: '8', docker: 'false', dockerHost: 'unix:///d.sock' } });
    expect(parseSuite(['--second.max-rows', '9'], { ...env, SCOPE_DOCKER_HOST: 'unix:///s.sock' }).options['second']).toEqual({ maxRows: '9', docker: 'false', dockerHost: 'unix:///s.sock' });
  });

  it('still takes deprecated flags and env names, with one warning each', () => {
    expect(parseSuite(['--max-rows', '4'])).toEqual({
      options: { 'first-one': { maxRows: '4' }, second: {} },
      warnings: ['flag --max-rows is deprecated; use --first-one.max-rows'],
    });
    expect(parseSuite([], { FIRST_MAX_ROWS: '6' })).toEqual({
      options: { 'first-one': { maxRows: '6' }, second: {} },
      warnings: ['environment variable FIRST_MAX_ROWS is deprecated; use SCOPE_FIRST_ONE_MAX_ROWS'],
    });
    // The new spelling wins over an old one on the same line.
    expect(parseSuite(['--max-rows', '4', '--first-one.max-rows', '5']).options['first-one']).toEqual({ maxRows: '5' });
  });

  it('refuses to build a command line where two plugins claim one flag', () => {
    expect(() => parseSuite([], {}, { second: { maxRows: { type: 'number', description: 'r', deprecatedFlags: ['max-rows'] } } })).toThrow(
      'flag --max-rows is claimed by plugin first-one (option maxRows) and plugin second (option maxRows)',
    );
    expect(() => parseSuite([], {}, { second: { dockerHost: { ...dockerish, default: 'tcp://other:2375' } } })).toThrow(
      'flag --docker-host is claimed by plugin first-one (option dockerHost) and plugin second (option dockerHost): a global option must be declared alike by every plugin',
    );
  });

  it('--help lists every plugin flag with its env var and default', () => {
    const command = addCommonOptions(new Command('suite'));
    addPluginOptions(command, twoPlugins(), 'suite');
    const help = command.helpInformation().replace(/\s+/g, ' ');
    expect(help).toContain('--first-one.max-rows <n>');
    expect(help).toContain('rows (env SCOPE_FIRST_ONE_MAX_ROWS; default: 10)');
    expect(help).toContain('--no-second.docker');
    expect(help).toContain('--docker-host <value>');
    expect(help).toContain('env SCOPE_DOCKER_HOST, DOCKER_HOST');
    // Deprecated spellings work but are not advertised.
    expect(help).not.toMatch(/--max-rows\b/);
  });
});

describe('a plugin bin', () => {
  it('takes its short flags and env vars, and fails naming the flag, env var and bad value', async () => {
    const ok = await runBin(['--once', '--greeting', 'hi', '--log-level', 'warn'], { SCOPE_DEMO_REPEAT: '2' });
    expect(ok.code, ok.stderr).toBe(0);
    const report = JSON.parse(ok.stdout) as Report;
    expect(report.Host?.nodes?.['opt-host;<host>']?.latest?.['demo_greeting']?.value).toBe('hi hi');
    const bad = await runBin(['--once', '--repeat', '0']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('demo: --repeat (env SCOPE_DEMO_REPEAT) must be an integer of at least 1, got "0"');
  });

  it('warns once about a deprecated env var and still uses it', async () => {
    const old = await runBin(['--once', '--log-level', 'warn'], { DEMO_GREETING: 'hi' });
    expect(old.code, old.stderr).toBe(0);
    expect(JSON.parse(old.stdout).Host.nodes['opt-host;<host>'].latest['demo_greeting'].value).toBe('hi');
    expect(old.stderr.split('\n').filter((l) => l.includes('deprecated'))).toEqual([expect.stringContaining('environment variable DEMO_GREETING is deprecated; use SCOPE_DEMO_GREETING')]);
  });

  it('--help lists the plugin\'s own flags', async () => {
    const { code, stdout: raw } = await runBin(['--help']);
    const stdout = raw.replace(/\s+/g, ' ');
    expect(code).toBe(0);
    expect(stdout).toContain('--greeting <hello|hi>');
    expect(stdout).toContain('word served as demo_greeting (env SCOPE_DEMO_GREETING; one of hello, hi; default: "hello")');
    expect(stdout).toContain('--repeat <n>');
  });
});

describe('programmatic start', () => {
  let test: TestPlugin | undefined;
  afterEach(async () => {
    await test?.stop();
    test = undefined;
  });

  it('validates options before anything starts and hands create() typed values', async () => {
    await expect(startTestPlugin(createExamplePlugin(), { options: { cpus: 0 } })).rejects.toThrow(new TypeError('demo: --cpus (env SCOPE_DEMO_CPUS) must be an integer of at least 1, got 0'));
    test = await startTestPlugin(createExamplePlugin(), { hostId: 'h', options: { cpus: '3', startMode: 'busy' } });
    const report = await test.waitForReport((r) => r.Host?.nodes?.['h;<host>'] !== undefined);
    const latest = report.Host!.nodes!['h;<host>']!.latest!;
    expect(latest['demo_mode']?.value).toBe('busy');
    expect(Object.keys(latest).filter((k) => k.startsWith('demo_cpu_') && k.endsWith('___user'))).toEqual(['demo_cpu_cpu0___user', 'demo_cpu_cpu1___user', 'demo_cpu_cpu2___user']);
  });
});
