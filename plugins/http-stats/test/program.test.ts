import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '@scope-plugins/core';
import { BPF_PROGRAM_PATH, TLS_BPF_PROGRAM_PATH, composeTracerProgram, isAttachablePath, planTlsTracing } from '../src/index.js';

describe('composeTracerProgram', () => {
  it('appends the TLS fragment with every attach point repeated per library, and nothing without libraries', async () => {
    const [http, tls] = await Promise.all([readFile(BPF_PROGRAM_PATH, 'utf8'), readFile(TLS_BPF_PROGRAM_PATH, 'utf8')]);
    expect(composeTracerProgram(http, tls, [])).toBe(http);
    const text = composeTracerProgram(http, tls, ['/usr/lib/libssl.so.3', '/usr/bin/node']);
    expect(text.startsWith(http.trimEnd())).toBe(true);
    expect(text).not.toMatch(/probe:__LIBRARY__/);
    expect(text).toContain('uprobe:/usr/lib/libssl.so.3:SSL_read, uprobe:/usr/bin/node:SSL_read /pid != $1/');
    expect(text).toContain('uretprobe:/usr/lib/libssl.so.3:SSL_read_ex, uretprobe:/usr/bin/node:SSL_read_ex');
    // One BEGIN and one END: bpftrace 0.17 refuses a second END.
    expect(text.match(/^END$/gm)).toHaveLength(1);
    expect(text.match(/^BEGIN$/gm)).toHaveLength(1);
  });

  it('refuses library paths an attach point cannot hold', () => {
    expect(isAttachablePath('/usr/lib/x86_64-linux-gnu/libssl.so.3')).toBe(true);
    for (const bad of ['libssl.so.3', '/opt/my lib/libssl.so', '/a:b', '/x/../y']) expect(isAttachablePath(bad)).toBe(false);
    expect(() => composeTracerProgram('BEGIN {}', 'uprobe:__LIBRARY__:SSL_free {}', ['/a b'])).toThrow(/"\/a b"/);
  });
});

describe('planTlsTracing', () => {
  let dir: string;
  let lib: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'hs-plan-'));
    lib = join(dir, 'libssl.so.3');
    await writeFile(lib, '');
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('leaves out missing and unattachable libraries at once, and keeps the others', async () => {
    const plan = await planTlsTracing([lib, join(dir, 'missing.so'), '/bad path/libssl.so'], createLogger({ level: 'silent' }));
    expect(plan.attached()).toEqual([lib]);
    const running = { state: 'running' as const, pid: 42, starts: 1 };
    expect(plan.statuses(running)).toEqual([
      { library: lib, status: running },
      { library: join(dir, 'missing.so'), status: { state: 'waiting', reason: 'ATTACH_TARGET_MISSING', starts: 0 } },
      { library: '/bad path/libssl.so', status: { state: 'waiting', reason: 'BAD_PATH', starts: 0 } },
    ]);
  });

  it('drops the TLS part only when an attach failure kept the program from starting', async () => {
    const plan = await planTlsTracing([lib], createLogger({ level: 'silent' }));
    plan.onTracerEnded({ reason: 'exit code 1: out of memory', reachedRunning: false });
    plan.onTracerEnded({ reason: `exit code 1: ERROR: could not attach uprobe ${lib}:SSL_read`, reachedRunning: true });
    expect(plan.attached()).toEqual([lib]);
    plan.onTracerEnded({ reason: `exit code 1: ERROR: Could not resolve symbol: ${lib}:SSL_read`, reachedRunning: false });
    expect(plan.attached()).toEqual([]);
    expect(plan.statuses({ state: 'running', starts: 2 })[0]?.status).toMatchObject({ state: 'waiting', reason: expect.stringMatching(/^exited exit code 1: ERROR: Could not resolve symbol/) });
  });
});
