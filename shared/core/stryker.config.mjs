// Mutation check of the report guard and the doctor (`pnpm mutation` at the root; not part of
// `pnpm test`). StrykerJS mutates the files below one change at a time and runs the tests of
// vitest.mutation.config.ts against each mutant: a mutant no test fails on "survived". The score and
// the survivors are committed in bench/results/mutation.md (JSON report next to it).
/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  testRunner: 'vitest',
  plugins: ['@stryker-mutator/vitest-runner'],
  vitest: { configFile: 'vitest.mutation.config.ts' },
  mutate: [
    'src/report/guard.ts',
    'src/report/inspect.ts',
    'src/doctor/diagnose.ts',
    'src/doctor/doctor.ts',
    'src/doctor/first-json-value.ts',
    'src/doctor/find-sockets.ts',
    'src/doctor/poll.ts',
    'src/doctor/probe-nodes.ts',
  ],
  coverageAnalysis: 'perTest',
  // Two cores, shared: one mutant at a time per core.
  concurrency: 2,
  timeoutMS: 20_000,
  reporters: ['clear-text', 'progress-append-only', 'json'],
  jsonReporter: { fileName: 'reports/mutation/mutation.json' },
  tempDirName: '.stryker-tmp',
  cleanTempDir: 'always',
};
