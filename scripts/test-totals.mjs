#!/usr/bin/env node
// Reads the output of `pnpm test` (turbo running vitest in every package) and prints one line:
//   total: N passed, N failed, N skipped
// scripts/test.sh prints it after every run, and so .ci/run (which runs test.sh) too.
//
// Exit status: 0 when the totals were read (and, under CI, nothing was skipped); 1 when under CI
// (CI=true or CI=1) any test was skipped or left as todo: CI must not go green by skipping; 2 when the
// totals cannot be read: no vitest summary at all, a package whose vitest started but printed no
// summary, or a summary whose counts do not add up to its total.
//
// Usage: node scripts/test-totals.mjs <log file>   (or the log on stdin)
import { readFileSync } from 'node:fs';

const ANSI = /\x1b\[[0-9;]*[A-Za-z]/g;
// Turbo prefixes each line with "<package>:<task>: "; a plain vitest run has no prefix.
const PREFIX = /^(?:(\S+):test:\s)?/;
const RUN_LINE = new RegExp(`${PREFIX.source}\\s*RUN\\s+v\\d+\\.\\d+`);
const TESTS_LINE = new RegExp(`${PREFIX.source}\\s*Tests\\s+(.+?)\\s*\\((\\d+)\\)\\s*$`);
const COUNT = /^(\d+) (passed|failed|skipped|todo|expected fail)$/;

/** Counts per vitest summary line of `log`; throws an Error saying why when they cannot be read. */
export function readTotals(log) {
  const lines = log.replace(ANSI, '').replace(/\r/g, '').split('\n');
  const started = new Map();
  const totals = { passed: 0, failed: 0, skipped: 0 };
  const summaries = new Map();
  for (const line of lines) {
    const run = RUN_LINE.exec(line);
    if (run) started.set(run[1] ?? '', (started.get(run[1] ?? '') ?? 0) + 1);
    const tests = TESTS_LINE.exec(line);
    if (!tests) continue;
    const [, pkg = '', counts, all] = tests;
    let sum = 0;
    for (const part of counts.split('|').map((p) => p.trim())) {
      const count = COUNT.exec(part);
      if (!count) throw new Error(`unknown count "${part}" in: ${line.trim()}`);
      const n = Number(count[1]);
      sum += n;
      if (count[2] === 'passed' || count[2] === 'expected fail') totals.passed += n;
      else if (count[2] === 'failed') totals.failed += n;
      else totals.skipped += n;
    }
    if (sum !== Number(all)) throw new Error(`counts add up to ${sum}, not ${all}, in: ${line.trim()}`);
    summaries.set(pkg, (summaries.get(pkg) ?? 0) + 1);
  }
  for (const [pkg, runs] of started) {
    const seen = summaries.get(pkg) ?? 0;
    if (seen < runs) throw new Error(`${pkg || 'vitest'} started ${runs} run(s) but printed ${seen} summary line(s): it crashed or was cut off`);
  }
  if (summaries.size === 0) throw new Error('no vitest summary ("Tests  N passed (N)") in the output');
  return totals;
}

const isCi = ['true', '1'].includes((process.env.CI ?? '').trim().toLowerCase());

if (import.meta.url === `file://${process.argv[1]}`) {
  const file = process.argv[2];
  const log = readFileSync(file ?? 0, 'utf8');
  let totals;
  try {
    totals = readTotals(log);
  } catch (error) {
    console.log(`total: cannot be read: ${error.message}`);
    process.exit(2);
  }
  console.log(`total: ${totals.passed} passed, ${totals.failed} failed, ${totals.skipped} skipped`);
  if (isCi && totals.skipped > 0) {
    console.log(`CI: ${totals.skipped} test(s) skipped or todo; under CI every test must run (a missing component must fail, see requireComponent)`);
    process.exit(1);
  }
}
