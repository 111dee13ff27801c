/**
 * scripts/test-totals.mjs, the closing `total:` line of scripts/test.sh and .ci/run: fed the output of
 * a real vitest run (test/fixtures/totals: passing, skipped, todo and optionally failing tests), as
 * turbo prints it (each line prefixed with `<package>:test: `, colours on). Under CI a skipped test
 * fails the run; output whose totals cannot be read fails it everywhere.
 */
import { describe, expect, it } from 'vitest';
import { REPO_ROOT, run } from './helpers/run.js';
import { join } from 'node:path';

const VITEST = new URL('../node_modules/.bin/vitest', import.meta.url).pathname;
const PROJECT = new URL('./fixtures/totals/', import.meta.url).pathname;
const TOTALS = join(REPO_ROOT, 'scripts', 'test-totals.mjs');

/** The fixture project's vitest output with colours, each line prefixed as turbo prefixes it. */
async function fixtureOutput(env: Record<string, string> = {}): Promise<string> {
  const result = await run(VITEST, ['run', '--root', PROJECT, '--config', `${PROJECT}vitest.config.mjs`], {
    cwd: PROJECT,
    env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: process.env['HOME'] ?? '/root', FORCE_COLOR: '1', ...env },
    timeoutMs: 60_000,
  });
  return `${result.stdout}${result.stderr}`
    .split('\n')
    .map((line) => `@scope-plugins/fixture:test: ${line}`)
    .join('\n');
}

/** Runs the totals script on `log` (stdin) with exactly the given CI value. */
async function totals(log: string, ci?: string) {
  const env: NodeJS.ProcessEnv = { PATH: process.env['PATH'] };
  if (ci !== undefined) env['CI'] = ci;
  const result = await run(process.execPath, [TOTALS], { env, input: log, timeoutMs: 30_000 });
  return { code: result.code, lines: result.stdout.trim().split('\n') };
}

describe('scripts/test-totals.mjs on real vitest output', () => {
  it('sums passed, failed and skipped (todo counts as skipped) and exits 0 outside CI', async () => {
    const log = await fixtureOutput();
    for (const ci of [undefined, 'false', '0']) expect(await totals(log, ci)).toEqual({ code: 0, lines: ['total: 3 passed, 0 failed, 2 skipped'] });
  });

  it('counts failures', async () => {
    expect(await totals(await fixtureOutput({ FIXTURE_FAIL: '1' }))).toEqual({ code: 0, lines: ['total: 2 passed, 1 failed, 2 skipped'] });
  });

  it('under CI=true or CI=1, fails when any test was skipped, after printing the same total line', async () => {
    const log = await fixtureOutput();
    for (const ci of ['true', '1']) {
      const result = await totals(log, ci);
      expect(result.code).toBe(1);
      expect(result.lines[0]).toBe('total: 3 passed, 0 failed, 2 skipped');
      expect(result.lines[1]).toMatch(/^CI: 2 test\(s\) skipped or todo/);
    }
  });

  it('adds up several packages, and passes under CI when nothing was skipped', async () => {
    const summary = (pkg: string, line: string) => `${pkg}:test:  RUN  v4.1.12 /x\n${pkg}:test:       Tests  ${line}\n`;
    const log = summary('a', '3 passed (3)') + summary('b', '1 failed | 4 passed (5)');
    expect(await totals(log, 'true')).toEqual({ code: 0, lines: ['total: 7 passed, 1 failed, 0 skipped'] });
  });

  it('fails, everywhere, when the totals cannot be read', async () => {
    const log = await fixtureOutput();
    const cut = log.split('\n').filter((line) => !/\bTests\b/.test(line)).join('\n');
    expect(await totals(cut)).toEqual({ code: 2, lines: ['total: cannot be read: @scope-plugins/fixture started 1 run(s) but printed 0 summary line(s): it crashed or was cut off'] });
    expect(await totals('')).toEqual({ code: 2, lines: ['total: cannot be read: no vitest summary ("Tests  N passed (N)") in the output'] });
    expect((await totals('x:test:       Tests  2 passed | 1 skipped (4)\n')).lines).toEqual(['total: cannot be read: counts add up to 3, not 4, in: x:test:       Tests  2 passed | 1 skipped (4)']);
  });
});
