import { constants } from 'node:fs';
import { access, readFile, stat } from 'node:fs/promises';
import { delimiter, isAbsolute, join } from 'node:path';

/** Why the tracer cannot run, one code per fix. */
export const PREFLIGHT_PROBLEMS = {
  BPFTRACE_MISSING: 'bpftrace is not installed',
  PROGRAM_MISSING: 'the bpftrace program file is missing',
  ATTACH_TARGET_MISSING: 'the library to trace is missing',
  NOT_ROOT: 'not running as root',
  MISSING_CAPABILITIES: 'missing capabilities',
  TRACEFS_NOT_MOUNTED: 'tracefs is not mounted',
  NO_SYSCALL_TRACEPOINTS: 'the kernel has no syscall tracepoints',
  NO_BTF: 'the kernel exposes no BTF',
} as const;

/** One of {@link PREFLIGHT_PROBLEMS}. */
export type PreflightProblemCode = keyof typeof PREFLIGHT_PROBLEMS;

/** A reason the tracer cannot run, with the fix in the message. */
export interface PreflightProblem {
  code: PreflightProblemCode;
  message: string;
}

/** Where the checks look. */
export interface PreflightOptions {
  /** bpftrace command: a name looked up in `PATH`, or a path. */
  bpftrace: string;
  /** The bpftrace program file. */
  programPath: string;
  /** Files the program's uprobes attach to (e.g. libssl). @default [] */
  attachTargets?: string[];
  /** @default '/proc' */
  procRoot?: string;
  /** @default '/sys' */
  sysRoot?: string;
  /** @default process.env.PATH */
  pathEnv?: string;
}

/** Credentials of a process as `/proc/<pid>/status` gives them. */
export interface ProcCredentials {
  effectiveUid: number;
  effectiveCapabilities: bigint;
}

/** Capability numbers bpftrace needs (linux/capability.h). */
export const CAPABILITIES = { CAP_SYS_ADMIN: 21, CAP_PERFMON: 38, CAP_BPF: 39 } as const;

/** Parses `Uid:` and `CapEff:` out of a `/proc/<pid>/status` text. Pure; undefined when either is missing. */
export function parseProcCredentials(status: string): ProcCredentials | undefined {
  const uid = /^Uid:\s+\d+\s+(\d+)/m.exec(status);
  const capEff = /^CapEff:\s+([0-9a-fA-F]+)\s*$/m.exec(status);
  if (!uid || !capEff) return undefined;
  return { effectiveUid: Number(uid[1]), effectiveCapabilities: BigInt(`0x${capEff[1]}`) };
}

/**
 * Names of the needed capabilities absent from `effective`. Pure. CAP_SYS_ADMIN alone is enough (the
 * kernel still accepts it for bpf() and perf events, and Docker 20.10 cannot grant BPF/PERFMON by name).
 */
export function missingCapabilities(effective: bigint): string[] {
  const has = (bit: number) => (effective & (1n << BigInt(bit))) !== 0n;
  if (has(CAPABILITIES.CAP_SYS_ADMIN)) return [];
  return Object.entries(CAPABILITIES)
    .filter(([, bit]) => (effective & (1n << BigInt(bit))) === 0n)
    .map(([name]) => name)
    .sort();
}

async function isExecutable(path: string): Promise<boolean> {
  try {
    await access(path, constants.X_OK);
    return (await stat(path)).isFile();
  } catch {
    // Absent or not executable: both mean "not usable here".
    return false;
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

/** Finds a command the way a shell would: a path as given, a bare name in `PATH`. */
export async function resolveCommand(command: string, pathEnv: string | undefined): Promise<string | undefined> {
  if (command.includes('/')) return (await isExecutable(command)) ? command : undefined;
  for (const dir of (pathEnv ?? '').split(delimiter)) {
    if (!dir || !isAbsolute(dir)) continue;
    const candidate = join(dir, command);
    if (await isExecutable(candidate)) return candidate;
  }
  return undefined;
}

/**
 * Checks, in the order a fix is needed, what the tracer needs: bpftrace, the program file, root with
 * CAP_BPF + CAP_PERFMON + CAP_SYS_ADMIN, tracefs with syscall tracepoints, and kernel BTF.
 * Resolves to the bpftrace path, or to the first problem with a message saying how to fix it.
 */
export async function checkTracerPrerequisites(options: PreflightOptions): Promise<{ ok: true; bpftracePath: string } | { ok: false; problem: PreflightProblem }> {
  const procRoot = options.procRoot ?? '/proc';
  const sysRoot = options.sysRoot ?? '/sys';
  const fail = (code: PreflightProblemCode, fix: string) => ({ ok: false as const, problem: { code, message: `${PREFLIGHT_PROBLEMS[code]}: ${fix}` } });

  const bpftracePath = await resolveCommand(options.bpftrace, options.pathEnv ?? process.env['PATH']);
  if (!bpftracePath) {
    return fail('BPFTRACE_MISSING', `${JSON.stringify(options.bpftrace)} was not found${options.bpftrace.includes('/') ? '' : ' in PATH'}; install it with \`apt-get install -y bpftrace\` (Debian/Ubuntu) or point --bpftrace at it`);
  }
  if (!(await exists(options.programPath))) {
    return fail('PROGRAM_MISSING', `${options.programPath} does not exist; reinstall @scope-plugins/http-stats (the file ships in its bpf/ folder) or point --program at it`);
  }

  for (const target of options.attachTargets ?? []) {
    if (!(await exists(target))) {
      return fail('ATTACH_TARGET_MISSING', `${target} does not exist; install it or remove it from --tls-libraries`);
    }
  }

  let credentials: ProcCredentials | undefined;
  try {
    credentials = parseProcCredentials(await readFile(join(procRoot, 'self', 'status'), 'utf8'));
  } catch {
    // Unreadable status: leave the privilege question to bpftrace itself, which says what it lacks.
    credentials = undefined;
  }
  if (credentials) {
    if (credentials.effectiveUid !== 0) {
      return fail('NOT_ROOT', `effective uid is ${credentials.effectiveUid}; bpftrace only runs as root: run the plugin as root (in a container: user 0 with CAP_BPF, CAP_PERFMON and CAP_SYS_ADMIN)`);
    }
    const missing = missingCapabilities(credentials.effectiveCapabilities);
    if (missing.length > 0) {
      return fail('MISSING_CAPABILITIES', `${missing.join(', ')} not in the effective set; bpftrace needs CAP_SYS_ADMIN (or CAP_BPF + CAP_PERFMON + CAP_SYS_ADMIN): docker run --cap-add SYS_ADMIN, Kubernetes securityContext.capabilities.add: [SYS_ADMIN, BPF, PERFMON]`);
    }
  }

  const tracefsDirs = [join(sysRoot, 'kernel', 'tracing'), join(sysRoot, 'kernel', 'debug', 'tracing')];
  let mounted: string | undefined;
  for (const dir of tracefsDirs) {
    if (await exists(join(dir, 'events'))) {
      mounted = dir;
      break;
    }
  }
  if (!mounted) {
    return fail('TRACEFS_NOT_MOUNTED', `neither ${tracefsDirs.join(' nor ')} has tracepoints; mount it with \`mount -t tracefs tracefs ${tracefsDirs[0]}\` (in a container: mount the host's /sys/kernel/tracing)`);
  }
  if (!(await exists(join(mounted, 'events', 'syscalls', 'sys_enter_read')))) {
    return fail('NO_SYSCALL_TRACEPOINTS', `${mounted}/events/syscalls/sys_enter_read is missing; the kernel needs CONFIG_FTRACE_SYSCALLS=y`);
  }
  if (!(await exists(join(sysRoot, 'kernel', 'btf', 'vmlinux')))) {
    return fail('NO_BTF', `${join(sysRoot, 'kernel', 'btf', 'vmlinux')} is missing; the program reads struct iovec and user_msghdr through BTF: use a kernel built with CONFIG_DEBUG_INFO_BTF=y`);
  }
  return { ok: true, bpftracePath };
}
