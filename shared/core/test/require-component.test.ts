/**
 * requireComponent under a real vitest: a child vitest runs test/fixtures/require-component with
 * the component there or missing, with and without CI, and its JSON results are checked. This is
 * what keeps "CI never goes green by skipping" true.
 */
import { execFile } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { isCi } from '../src/testing/index.js';

const CORE = new URL('..', import.meta.url).pathname;
const VITEST = new URL('../node_modules/.bin/vitest', import.meta.url).pathname;
const PROJECT = new URL('./fixtures/require-component/', import.meta.url).pathname;

interface Outcome {
  passed: number;
  failed: number;
  skipped: number;
  messages: string[];
  stderr: string;
}

/** Runs the fixture project in a child vitest with exactly `env` (plus PATH/HOME), never the parent's CI. */
function runFixture(env: Record<string, string>): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    execFile(
      VITEST,
      ['run', '--root', PROJECT, '--config', `${PROJECT}vitest.config.mjs`, '--reporter=json'],
      { cwd: CORE, env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: process.env['HOME'] ?? '/root', ...env }, timeout: 60_000 },
      (error, stdout, stderr) => {
        const start = stdout.indexOf('{');
        if (start < 0) return reject(new Error(`no JSON from the child vitest (${error?.message}):\n${stdout}\n${stderr}`));
        const json = JSON.parse(stdout.slice(start)) as {
          numPassedTests: number;
          numFailedTests: number;
          numPendingTests: number;
          testResults: { assertionResults: { failureMessages: string[] }[] }[];
        };
        resolve({
          passed: json.numPassedTests,
          failed: json.numFailedTests,
          skipped: json.numPendingTests,
          messages: json.testResults.flatMap((file) => file.assertionResults.flatMap((test) => test.failureMessages)),
          stderr,
        });
      },
    );
  });
}

describe('requireComponent in a real vitest run', () => {
  it('runs every test when the component is there, CI or not', async () => {
    for (const CI of ['', 'true']) {
      const outcome = await runFixture({ FIXTURE_COMPONENT: 'there', CI });
      expect({ ...outcome, stderr: undefined, CI }).toEqual({ passed: 4, failed: 0, skipped: 0, messages: [], stderr: undefined, CI });
    }
  });

  it.each([[{}], [{ CI: 'false' }], [{ CI: '0' }], [{ CI: '' }]])('skips the tests that need a missing component outside CI (%o), saying so once', async (env) => {
    const outcome = await runFixture(env);
    expect({ passed: outcome.passed, failed: outcome.failed, skipped: outcome.skipped }).toEqual({ passed: 1, failed: 0, skipped: 3 });
    expect(outcome.stderr.match(/!!! SKIPPING tests that need the fixture component is not available: set FIXTURE_COMPONENT=there/g)).toHaveLength(1);
  });

  it.each(['true', '1', 'TRUE'])('fails every test that needs a missing component under CI=%s, with how to get it', async (CI) => {
    const outcome = await runFixture({ CI });
    expect({ passed: outcome.passed, failed: outcome.failed, skipped: outcome.skipped }).toEqual({ passed: 1, failed: 3, skipped: 0 });
    expect(outcome.messages).toHaveLength(3);
    for (const message of outcome.messages) expect(message).toMatch(/the fixture component is not available: set FIXTURE_COMPONENT=there \(CI: a test that needs it must fail, not skip\)/);
    expect(outcome.stderr).not.toContain('SKIPPING');
  });
});

describe('isCi', () => {
  it('counts only CI=true and CI=1 as CI', () => {
    const verdicts = Object.fromEntries(['true', '1', 'TRUE', ' true ', 'false', '0', '', 'yes'].map((value) => [value, isCi({ CI: value })]));
    expect(verdicts).toEqual({ true: true, 1: true, TRUE: true, ' true ': true, false: false, 0: false, '': false, yes: false });
    expect(isCi({})).toBe(false);
  });
});
