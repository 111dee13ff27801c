import { defineConfig } from 'vitest/config';

// The tests the mutation check (`pnpm mutation`, stryker.config.mjs) runs against each mutant of the
// report guard and the doctor: the ones that call them directly, in process. Tests that reach them
// only through the built CLI (doctor-cli) or a whole plugin runtime are left out: they cannot see a
// mutant of src/, or take seconds per mutant.
export default defineConfig({
  test: {
    include: ['test/decode-cases.test.ts', 'test/doctor-verdicts.test.ts', 'test/report-model.test.ts', 'test/report-guard.test.ts', 'test/doctor-run.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
  },
});
