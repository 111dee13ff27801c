import { execFile } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { limitV8Memory } from '../src/cli/v8-memory.js';

const MODULE = new URL('../dist/cli/v8-memory.js', import.meta.url).href;

/** What a real Node process did: limitV8Memory's outcome, its young generation in MiB, how many TurboFan compiles. */
type Observed = { outcome: unknown; newSpaceMiB: number; turbofanCompiles: number };

/**
 * Runs a real Node process (with --trace-opt, to see TurboFan compiles) that calls limitV8Memory first, then
 * allocates ~250 MiB of short-lived objects with some survivors (what makes V8 grow its young generation) in a
 * hot function (what makes V8 optimize it), yielding to the event loop every ~0.6 MiB as a server does.
 */
function observe(nodeArgs: string[], env: NodeJS.ProcessEnv = {}): Promise<Observed> {
  const script = `
    import { getHeapSpaceStatistics } from 'node:v8';
    const { limitV8Memory } = await import(${JSON.stringify(MODULE)});
    const outcome = limitV8Memory();
    const keep = [];
    const work = (i) => { const a = new Array(64).fill(i); if (i % 40 === 0) { keep.push(a); if (keep.length > 4000) keep.splice(0, 2000); } };
    for (let i = 0; i < 500_000; i++) {
      work(i);
      if (i % 1000 === 0) await new Promise((resolve) => setImmediate(resolve));
    }
    const newSpace = getHeapSpaceStatistics().find((s) => s.space_name === 'new_space');
    console.log(JSON.stringify({ outcome, newSpaceMiB: newSpace.space_size / 1048576 }));
  `;
  return new Promise((resolve, reject) => {
    execFile(process.execPath, ['--trace-opt', ...nodeArgs, '--input-type=module', '-e', script], { env: { PATH: process.env['PATH'], ...env }, timeout: 30_000, maxBuffer: 16 * 1024 * 1024 }, (error, stdout) => {
      if (error) return reject(error);
      const lines = stdout.trim().split('\n');
      const result = JSON.parse(lines.at(-1) ?? '') as Omit<Observed, 'turbofanCompiles'>;
      resolve({ ...result, turbofanCompiles: lines.filter((line) => line.startsWith('[compiling method') && line.includes('TURBOFAN')).length });
    });
  });
}

describe('limitV8Memory in a real Node process', () => {
  it('keeps the young generation at 2 × 1 MiB and compiles nothing with TurboFan', async () => {
    expect(await observe([])).toEqual({ outcome: { youngGeneration: 'limiting', maxOpt: 'limited' }, newSpaceMiB: 2, turbofanCompiles: 0 });
  });

  it('leaves each setting the operator gave a flag for as given (the control: V8 alone grows and optimizes)', async () => {
    const control = await observe(['--semi-space-growth-factor=2', '--max-opt=999']);
    expect(control.outcome).toEqual({ youngGeneration: 'operator-flag', maxOpt: 'operator-flag' });
    expect(control.newSpaceMiB).toBeGreaterThanOrEqual(8);
    expect(control.turbofanCompiles).toBeGreaterThan(0);
    expect(await observe(['--max-semi-space-size=4'])).toEqual({ outcome: { youngGeneration: 'operator-flag', maxOpt: 'limited' }, newSpaceMiB: 8, turbofanCompiles: 0 });
    expect(await observe([], { NODE_OPTIONS: '--max-semi-space-size=4' })).toEqual({ outcome: { youngGeneration: 'operator-flag', maxOpt: 'limited' }, newSpaceMiB: 8, turbofanCompiles: 0 });
  });

  it('refuses bad sizes with a TypeError', () => {
    expect(() => limitV8Memory({ semiSpaceMiB: 0 })).toThrow(new TypeError('semiSpaceMiB must be a positive number, got 0'));
    expect(() => limitV8Memory({ maxOptTier: 1.5 })).toThrow(new TypeError('maxOptTier must be a non-negative integer, got 1.5'));
  });
});
