import { PassThrough } from 'node:stream';
import { createLogger } from '@scope-plugins/core';
import { describe, expect, it } from 'vitest';
import { followTracerOutput } from '../src/tracer-output.js';

describe('following bpftrace output', () => {
  it('a pipe that fails is logged, not thrown: the process keeps running and the other pipe keeps being read', async () => {
    const lines: string[] = [];
    const log = createLogger({ write: (l) => lines.push(l) });
    const stdout = new PassThrough();
    const stderr = new PassThrough();
    const events: string[] = [];
    followTracerOutput(stdout, stderr, { log, onEvent: (e) => events.push(e.kind), onReady: () => undefined });
    // A real stream error, as a pipe read failing (EIO) produces: without a listener it is an uncaught exception.
    stderr.destroy(Object.assign(new Error('read EIO'), { code: 'EIO' }));
    await new Promise((resolve) => setImmediate(resolve));
    stdout.write('{"type": "attached_probes", "data": {"probes": 3}}\n');
    await new Promise((resolve) => setImmediate(resolve));
    expect(lines.filter((l) => l.includes("cannot read bpftrace's stderr"))).toHaveLength(1);
    expect(events).toEqual(['attached']);
    stdout.destroy(new Error('read EIO'));
    await new Promise((resolve) => setImmediate(resolve));
    expect(lines.filter((l) => l.includes("cannot read bpftrace's stdout"))).toHaveLength(1);
  });
});
