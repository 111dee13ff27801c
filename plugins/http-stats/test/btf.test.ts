import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createLogger } from '@scope-plugins/core';
import { btfRootTypes, needsWholeBtf, subsetBtf, writeProgramBtf } from '../src/btf.js';
import { BPF_PROGRAM_PATH, TLS_BPF_PROGRAM_PATH, X86_64_BPF_PROGRAM_PATH } from '../src/index.js';
import { composeTracerProgram } from '../src/program.js';
import { createTracer } from '../src/tracer.js';
import { checkTracer, requireTracer } from './helpers.js';

const run = promisify(execFile);
const tracer = await checkTracer();
const KERNEL_BTF = '/sys/kernel/btf/vmlinux';
const LIBSSL = '/usr/lib/x86_64-linux-gnu/libssl.so.3';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function until(predicate: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe('btfRootTypes / needsWholeBtf', () => {
  it('names the structs and unions of the program, task_struct for curtask, nothing from comments', () => {
    const program = '/* struct not_this */ BEGIN { $r = (struct pt_regs *)0; $u = (union bpf_attr *)0; @ = curtask->pid; } // struct nor_this';
    expect(btfRootTypes(program)).toEqual(['bpf_attr', 'pt_regs', 'task_struct']);
    expect(btfRootTypes('BEGIN { printf("hi\\n"); }')).toEqual([]);
  });

  it('says kfunc/fentry/iter programs need the whole BTF, tracepoints and uprobes do not', () => {
    expect(needsWholeBtf('kfunc:tcp_sendmsg { @ = count(); }')).toMatch(/kfunc probes/);
    expect(needsWholeBtf('BEGIN {}\nfexit:vfs_read { }')).toMatch(/fexit probes/);
    expect(needsWholeBtf('/* kfunc:x */ tracepoint:syscalls:sys_enter_read { } uprobe:/lib/libc.so.6:read { }')).toBeUndefined();
  });
});

describe('subsetBtf', () => {
  it('refuses what is not BTF, and a struct the kernel does not have', async () => {
    expect(() => subsetBtf(Buffer.from('not btf at all, not at all'), [])).toThrow(/bad magic/);
    if (!existsSync(KERNEL_BTF)) return;
    const raw = await readFile(KERNEL_BTF);
    expect(() => subsetBtf(raw, ['no_such_struct_in_any_kernel'])).toThrow(/kernel BTF has no struct or union no_such_struct_in_any_kernel/);
  });

  it.runIf(existsSync(KERNEL_BTF))('keeps the named structs whole and is a small fraction of the kernel BTF (bpftool reads it)', async () => {
    const raw = await readFile(KERNEL_BTF);
    const subset = subsetBtf(raw, ['iovec', 'user_msghdr', 'task_struct']);
    expect(subset.length).toBeLessThan(raw.length / 20);
    const dir = await mkdtemp(join(tmpdir(), 'hs-btf-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    await writeFile(join(dir, 'sub.btf'), subset);
    const dump = async (file: string) => (await run('bpftool', ['btf', 'dump', 'file', file, 'format', 'c'], { maxBuffer: 256 * 1024 * 1024 })).stdout;
    let sub: string;
    try {
      sub = await dump(join(dir, 'sub.btf'));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return; // no bpftool here: the bpftrace tests below still run
      throw error;
    }
    const whole = await dump(KERNEL_BTF);
    // The same C definition, member for member, as in the kernel's BTF.
    const definition = (c: string, name: string) => new RegExp(`^struct ${name} \\{\\n[\\s\\S]*?^\\};`, 'm').exec(c)?.[0];
    const defined = [...sub.matchAll(/^struct (\w+) \{$/gm)].map((m) => m[1]!);
    expect(defined).toEqual(expect.arrayContaining(['iovec', 'user_msghdr', 'task_struct']));
    for (const name of defined) expect(definition(sub, name), name).toBe(definition(whole, name));
    // A struct only pointed to is declared, not defined.
    expect(definition(sub, 'mm_struct')).toBeUndefined();
    expect(sub).toMatch(/^struct mm_struct;$/m);
  });
});

describe.sequential('the BTF subset with real bpftrace', () => {
  beforeEach((ctx) => requireTracer(ctx, tracer));

  /** bpftrace's dry run (-d: the program's AST and LLVM IR, with every struct offset it used). */
  const dryRun = async (program: string, btf?: string) => {
    const env = { ...process.env, ...(btf ? { BPFTRACE_BTF: btf } : {}) };
    const { stdout, stderr } = await run('bpftrace', ['-d', '-e', program, '4242'], { env, maxBuffer: 64 * 1024 * 1024 }).catch((error: { stdout: string; stderr: string }) => error);
    return `${stdout}\n${stderr.split('\n').filter((l) => !/RLIMIT_MEMLOCK|Addrspace/.test(l)).join('\n')}`;
  };

  const programs = async () => {
    const tls = existsSync(LIBSSL) ? [LIBSSL] : [];
    const fragment = await readFile(TLS_BPF_PROGRAM_PATH, 'utf8');
    return {
      portable: composeTracerProgram(await readFile(BPF_PROGRAM_PATH, 'utf8'), fragment, tls),
      ...(process.arch === 'x64' ? { x86_64: composeTracerProgram(await readFile(X86_64_BPF_PROGRAM_PATH, 'utf8'), fragment, tls) } : {}),
    };
  };

  it('gives bpftrace the same program as the kernel BTF does, for each shipped program', async () => {
    for (const [name, program] of Object.entries(await programs())) {
      const btf = await writeProgramBtf(program);
      cleanups.push(btf.remove);
      expect(btf.bytes, name).toBeGreaterThan(0);
      const withSubset = await dryRun(program, btf.path);
      expect(withSubset, name).toMatch(/define i64 @"tracepoint:syscalls:sys_/);
      expect(withSubset, name).toBe(await dryRun(program));
    }
  }, 120_000);

  it('runs bpftrace with the subset file, removed once it attached; starts it with the kernel BTF when the subset lacks a type', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'hs-btf-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    // curtask->mm->map_count: mm_struct is only pointed to from task_struct, so the subset declares it without members.
    const program = join(dir, 'mm.bt');
    await writeFile(program, 'BEGIN { printf("http-stats ready\\n"); }\ntracepoint:syscalls:sys_enter_nanosleep { @m = curtask->mm->map_count; }\n');
    for (const [file, falls] of [
      [BPF_PROGRAM_PATH, false],
      [program, true],
    ] as const) {
      const logs: string[] = [];
      const t = createTracer({
        programPath: file,
        args: file === BPF_PROGRAM_PATH ? ['0'] : [],
        log: createLogger({ level: 'debug', write: (line) => logs.push(line) }),
        onEvent: () => undefined,
        minBackoffMs: 50,
        maxBackoffMs: 200,
      });
      cleanups.push(() => t.stop());
      await until(() => t.status().state === 'running', 30_000, `bpftrace running ${file}`);
      const environ = (await readFile(`/proc/${t.status().pid}/environ`, 'utf8')).split('\0');
      const btf = environ.find((e) => e.startsWith('BPFTRACE_BTF='));
      if (falls) {
        expect(t.status().starts).toBe(2);
        expect(btf).toBeUndefined();
        expect(logs.filter((l) => l.includes("bpftrace did not start with the subset of the kernel's BTF"))).toHaveLength(1);
      } else {
        expect(t.status().starts).toBe(1);
        expect(btf).toMatch(/^BPFTRACE_BTF=.*http-stats-btf-.*\/vmlinux\.btf$/);
        await until(() => !existsSync(btf!.slice('BPFTRACE_BTF='.length)), 5000, 'the BTF file to be removed');
      }
      await t.stop();
    }
  }, 120_000);

  it('writes the file under /dev/shm when the temp dir is not writable (read-only root filesystem)', async (ctx) => {
    if (!existsSync(KERNEL_BTF) || !existsSync('/dev/shm')) return ctx.skip();
    const saved = process.env['TMPDIR'];
    process.env['TMPDIR'] = '/nonexistent/read-only-root';
    try {
      const btf = await writeProgramBtf(await readFile(BPF_PROGRAM_PATH, 'utf8'));
      cleanups.push(btf.remove);
      expect(btf.path).toMatch(/^\/dev\/shm\/http-stats-btf-[^/]+\/vmlinux\.btf$/);
      expect((await readFile(btf.path)).readUInt16LE(0)).toBe(0xeb9f);
      await btf.remove();
      expect(existsSync(btf.path)).toBe(false);
    } finally {
      if (saved === undefined) delete process.env['TMPDIR'];
      else process.env['TMPDIR'] = saved;
    }
  });

  it('leaves the kernel BTF to bpftrace with btfSubset: false', async () => {
    const t = createTracer({ programPath: BPF_PROGRAM_PATH, args: ['0'], btfSubset: false, log: createLogger({ level: 'silent' }), onEvent: () => undefined });
    cleanups.push(() => t.stop());
    await until(() => t.status().state === 'running', 30_000, 'bpftrace running');
    const environ = (await readFile(`/proc/${t.status().pid}/environ`, 'utf8')).split('\0');
    expect(environ.some((e) => e.startsWith('BPFTRACE_BTF='))).toBe(false);
  }, 60_000);
});
