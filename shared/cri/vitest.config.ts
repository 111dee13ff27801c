import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // A real containerd is started per file; its first start and the pod runs take a few seconds on 2 shared cores.
    testTimeout: 60_000,
    hookTimeout: 90_000,
  },
});
