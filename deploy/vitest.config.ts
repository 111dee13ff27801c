import { defineConfig } from 'vitest/config';

// Distribution tests build images, start containers and install tarballs: one file at a time
// (they share the Docker engine and the npm cache), with generous but bounded timeouts.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    fileParallelism: false,
    testTimeout: 120_000,
    hookTimeout: 600_000,
  },
});
