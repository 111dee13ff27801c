/**
 * bpftrace's ahead-of-time mode: `bpftrace --aot FILE` compiles a program (LLVM and clang, for about a second) and
 * `bpftrace-aotrt FILE` runs it without them: the running tracer keeps about 13 MiB resident instead of about 110
 * (libLLVM and libclang code pages stay mapped in a normal bpftrace for its whole life). bpftrace 0.17 compiles
 * in this mode only programs without casts, `curtask` or positional parameters (bpf/http-stats-aot.bt).
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';

/** Stands for the pid the AOT program never counts (it cannot take positional parameters). */
export const SELF_PID_PLACEHOLDER = '__SELF_PID__';

/** How long a compilation may take (a few seconds on a loaded 2-core machine). */
export const AOT_COMPILE_TIMEOUT_MS = 60_000;

/** Writes `pid` where the AOT program says {@link SELF_PID_PLACEHOLDER}. Pure. */
export function inlineSelfPid(program: string, pid: number): string {
  if (!Number.isSafeInteger(pid) || pid < 0) throw new TypeError(`pid must be a non-negative integer, got ${JSON.stringify(pid)}`);
  return program.replaceAll(SELF_PID_PLACEHOLDER, String(pid));
}

/** The runtime next to a bpftrace command: `bpftrace` → `bpftrace-aotrt`, `/usr/bin/bpftrace` → `/usr/bin/bpftrace-aotrt`. */
export function aotRuntimeFor(bpftrace: string): string {
  return bpftrace.includes('/') ? join(dirname(bpftrace), `${basename(bpftrace)}-aotrt`) : `${bpftrace}-aotrt`;
}

/** A compiled program: its file, and how to remove it. */
export interface CompiledProgram {
  path: string;
  remove(): Promise<void>;
}

/**
 * Compiles `program` with `bpftrace --aot` into a file in a fresh temporary directory. Rejects with bpftrace's own
 * message (its last stderr lines) when it refuses the program or does not finish within the timeout.
 */
export async function compileAot(bpftrace: string, program: string, env: Record<string, string>, signal: AbortSignal): Promise<CompiledProgram> {
  const dir = await mkdtemp(join(tmpdir(), 'http-stats-aot-'));
  const remove = () => rm(dir, { recursive: true, force: true });
  const path = join(dir, 'http-stats.aot');
  try {
    await new Promise<void>((resolve, reject) => {
      execFile(bpftrace, ['--aot', path, '-e', program], { env: { ...process.env, ...env }, timeout: AOT_COMPILE_TIMEOUT_MS, signal, maxBuffer: 1024 * 1024 }, (error, _stdout, stderr) => {
        if (!error) return resolve();
        const said = stderr
          .split('\n')
          .map((line) => line.trim())
          .filter((line) => line !== '' && !/RLIMIT_MEMLOCK|Addrspace is not set/.test(line))
          .slice(-3)
          .join(' | ');
        reject(new Error(said || error.message, { cause: error }));
      });
    });
  } catch (error) {
    await remove();
    throw error;
  }
  return { path, remove };
}
