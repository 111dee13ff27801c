#!/usr/bin/env node
// `pnpm bench`: runs every benchmark that feeds the performance figures, one after the other (they would
// disturb each other side by side), each writing bench/results/<name>.json and <name>.md with the machine, date,
// commit and command. Needs root, bpftrace and tracefs (http-stats), util-linux (unshare), wrk (installed when
// missing). Select with BENCH=resources,http-stats; each bench's own knobs (ROUNDS, WINDOW_S, ...) pass through.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const BENCHES = {
  resources: 'resources.mjs',
  'http-stats': 'http-stats.mjs',
  metrics: 'metrics.mjs',
};
const selected = process.env.BENCH?.split(',') ?? Object.keys(BENCHES);
const unknown = selected.filter((name) => !(name in BENCHES));
if (unknown.length > 0) throw new TypeError(`BENCH: unknown ${unknown.join(', ')}; known: ${Object.keys(BENCHES).join(', ')}`);

const build = spawnSync('pnpm', ['run', 'build'], { stdio: 'inherit', env: { ...process.env, TURBO_TELEMETRY_DISABLED: '1' } });
if (build.status !== 0) process.exit(build.status ?? 1);
let failed = 0;
for (const name of selected) {
  console.error(`\n== bench: ${name}`);
  const started = Date.now();
  const result = spawnSync(process.execPath, [fileURLToPath(new URL(BENCHES[name], import.meta.url))], { stdio: 'inherit' });
  console.error(`== ${name}: exit ${result.status ?? result.signal} after ${Math.round((Date.now() - started) / 1000)} s`);
  if (result.status !== 0) failed++;
}
process.exit(failed === 0 ? 0 : 1);
