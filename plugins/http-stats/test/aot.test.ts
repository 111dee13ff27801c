import { readFile, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { requireComponent } from '@scope-plugins/core/testing';
import { AOT_BPF_PROGRAM_PATH, BPF_PROGRAM_PATH, SELF_PID_PLACEHOLDER, aotRuntimeFor, compileAot, inlineSelfPid, resolveCommand } from '../src/index.js';
import { checkTracer, requireTracer } from './helpers.js';

const tracer = await checkTracer();
const runtime = await resolveCommand('bpftrace-aotrt', process.env['PATH']);

describe('AOT helpers', () => {
  it('writes the pid into the program and refuses a bad one', async () => {
    const program = await readFile(AOT_BPF_PROGRAM_PATH, 'utf8');
    expect(program).toContain(SELF_PID_PLACEHOLDER);
    const inlined = inlineSelfPid(program, 4321);
    expect(inlined).not.toContain(SELF_PID_PLACEHOLDER);
    expect(inlined.match(/pid != 4321\//g)?.length).toBe(program.match(/pid != __SELF_PID__\//g)?.length);
    expect(() => inlineSelfPid(program, -1)).toThrow(TypeError);
  });

  it('finds the runtime next to the bpftrace command', () => {
    expect(aotRuntimeFor('bpftrace')).toBe('bpftrace-aotrt');
    expect(aotRuntimeFor('/opt/bt/bin/bpftrace')).toBe('/opt/bt/bin/bpftrace-aotrt');
  });
});

describe.sequential('compileAot with real bpftrace', () => {
  beforeEach((ctx) => {
    requireTracer(ctx, tracer);
    requireComponent(ctx, 'bpftrace-aotrt', runtime !== undefined, 'it comes with bpftrace (Debian: apt-get install -y bpftrace)');
  });

  it('compiles the shipped AOT program, and removes the file when asked', async () => {
    const signal = new AbortController().signal;
    const compiled = await compileAot('bpftrace', inlineSelfPid(await readFile(AOT_BPF_PROGRAM_PATH, 'utf8'), process.pid), { BPFTRACE_MAP_KEYS_MAX: '65536' }, signal);
    expect((await stat(compiled.path)).size).toBeGreaterThan(0);
    await compiled.remove();
    await expect(stat(dirname(compiled.path))).rejects.toThrow(/ENOENT/);
  });

  it("rejects a program AOT cannot take (the portable program's casts) with bpftrace's own words", async () => {
    const program = (await readFile(BPF_PROGRAM_PATH, 'utf8')).replaceAll('$1', '0');
    await expect(compileAot('bpftrace', program, {}, new AbortController().signal)).rejects.toThrow(/AOT does not yet support struct casts/);
  });
});
