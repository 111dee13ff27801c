#!/usr/bin/env node
// Benchmark (not a test): what loading @scope-plugins/cri adds to a process that already loads
// @scope-plugins/docker (as volume-count and host-namespaces do on every node, Docker-only ones included).
// Run: TURBO_TELEMETRY_DISABLED=1 pnpm run build && node --expose-gc bench/cri-load.mjs
const mib = (bytes) => (bytes / 1048576).toFixed(1);
await import('../shared/docker/dist/index.js');
globalThis.gc?.();
const rss0 = process.memoryUsage().rss;
const heap0 = process.memoryUsage().heapUsed;
const t0 = performance.now();
await import('../shared/cri/dist/index.js');
globalThis.gc?.();
console.log(`import @scope-plugins/cri after @scope-plugins/docker: ${(performance.now() - t0).toFixed(0)} ms, +${mib(process.memoryUsage().rss - rss0)} MiB RSS, +${mib(process.memoryUsage().heapUsed - heap0)} MiB heap`);
