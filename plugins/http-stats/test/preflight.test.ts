import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { BPF_PROGRAM_PATH } from '../src/index.js';
import { checkTracerPrerequisites, missingCapabilities, parseProcCredentials, resolveCommand } from '../src/preflight.js';

const STATUS = (uid: number, capEff: string) => `Name:\tnode\nUmask:\t0022\nState:\tS (sleeping)\nUid:\t${uid}\t${uid}\t${uid}\t${uid}\nGid:\t0\t0\t0\t0\nCapInh:\t0000000000000000\nCapPrm:\t${capEff}\nCapEff:\t${capEff}\n`;
// Full root set of Linux 6.x (CapEff of a root shell on the machine).
const ALL_CAPS = '000001ffffffffff';

let dirs: string[] = [];
afterEach(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
  dirs = [];
});

/** A fake /proc and /sys with only what the checks read. */
async function roots(options: { uid?: number; capEff?: string; tracefs?: boolean; syscalls?: boolean; btf?: boolean }) {
  const base = await mkdtemp(join(tmpdir(), 'hs-pre-'));
  dirs.push(base);
  const procRoot = join(base, 'proc');
  const sysRoot = join(base, 'sys');
  await mkdir(join(procRoot, 'self'), { recursive: true });
  await writeFile(join(procRoot, 'self', 'status'), STATUS(options.uid ?? 0, options.capEff ?? ALL_CAPS));
  if (options.tracefs ?? true) await mkdir(join(sysRoot, 'kernel', 'tracing', 'events', ...((options.syscalls ?? true) ? ['syscalls', 'sys_enter_read'] : [])), { recursive: true });
  if (options.btf ?? true) {
    await mkdir(join(sysRoot, 'kernel', 'btf'), { recursive: true });
    await writeFile(join(sysRoot, 'kernel', 'btf', 'vmlinux'), '');
  }
  return { procRoot, sysRoot };
}

const ok = { bpftrace: process.execPath, programPath: BPF_PROGRAM_PATH };

describe('parseProcCredentials', () => {
  it('reads the effective uid and capabilities', () => {
    expect(parseProcCredentials(STATUS(1000, '0000000000200000'))).toEqual({ effectiveUid: 1000, effectiveCapabilities: 1n << 21n });
    expect(parseProcCredentials('Name:\tx\n')).toBeUndefined();
  });

  it('reads this process from the real /proc', async () => {
    const creds = parseProcCredentials(await readFile('/proc/self/status', 'utf8'));
    expect(creds?.effectiveUid).toBe(process.geteuid?.());
  });
});

describe('missingCapabilities', () => {
  it('accepts CAP_SYS_ADMIN alone, else names what is missing', () => {
    expect(missingCapabilities(1n << 21n)).toEqual([]);
    expect(missingCapabilities((1n << 38n) | (1n << 39n))).toEqual(['CAP_SYS_ADMIN']);
    expect(missingCapabilities(0n)).toEqual(['CAP_BPF', 'CAP_PERFMON', 'CAP_SYS_ADMIN']);
  });
});

describe('resolveCommand', () => {
  it('finds a bare name in PATH and checks a path as given', async () => {
    expect(await resolveCommand('node', `/nonexistent:${join(process.execPath, '..')}`)).toBe(process.execPath);
    expect(await resolveCommand('no-such-tool-here', process.env['PATH'])).toBeUndefined();
    expect(await resolveCommand('/nonexistent/bpftrace', process.env['PATH'])).toBeUndefined();
    expect(await resolveCommand(BPF_PROGRAM_PATH, undefined)).toBeUndefined();
  });
});

describe('checkTracerPrerequisites', () => {
  it('passes when everything is there', async () => {
    expect(await checkTracerPrerequisites({ ...ok, ...(await roots({})) })).toEqual({ ok: true, bpftracePath: process.execPath });
  });

  it('says how to install bpftrace when it is missing', async () => {
    const result = await checkTracerPrerequisites({ ...ok, bpftrace: 'no-such-bpftrace', pathEnv: '/nonexistent', ...(await roots({})) });
    expect(result).toEqual({
      ok: false,
      problem: { code: 'BPFTRACE_MISSING', message: 'bpftrace is not installed: "no-such-bpftrace" was not found in PATH; install it with `apt-get install -y bpftrace` (Debian/Ubuntu) or point --bpftrace at it' },
    });
  });

  it('names a missing program file', async () => {
    const result = await checkTracerPrerequisites({ ...ok, programPath: '/nonexistent/http-stats.bt', ...(await roots({})) });
    expect(result.ok ? '' : result.problem.code).toBe('PROGRAM_MISSING');
  });

  it('names a missing library to attach to', async () => {
    const result = await checkTracerPrerequisites({ ...ok, attachTargets: ['/nonexistent/libssl.so.3'], ...(await roots({})) });
    expect(result.ok ? undefined : result.problem).toEqual({
      code: 'ATTACH_TARGET_MISSING',
      message: 'the library to trace is missing: /nonexistent/libssl.so.3 does not exist; install it or remove it from --tls-libraries',
    });
  });

  it('says to run as root', async () => {
    const result = await checkTracerPrerequisites({ ...ok, ...(await roots({ uid: 1000 })) });
    expect(result.ok ? undefined : result.problem).toEqual({
      code: 'NOT_ROOT',
      message: 'not running as root: effective uid is 1000; bpftrace only runs as root: run the plugin as root (in a container: user 0 with CAP_BPF, CAP_PERFMON and CAP_SYS_ADMIN)',
    });
  });

  it('names the missing capabilities', async () => {
    const result = await checkTracerPrerequisites({ ...ok, ...(await roots({ capEff: '0000000000000000' })) });
    expect(result.ok ? '' : result.problem.message).toMatch(/^missing capabilities: CAP_BPF, CAP_PERFMON, CAP_SYS_ADMIN not in the effective set; .*--cap-add SYS_ADMIN/);
  });

  it('says how to mount tracefs', async () => {
    const r = await roots({ tracefs: false });
    const result = await checkTracerPrerequisites({ ...ok, ...r });
    expect(result.ok ? undefined : result.problem).toEqual({
      code: 'TRACEFS_NOT_MOUNTED',
      message: `tracefs is not mounted: neither ${r.sysRoot}/kernel/tracing nor ${r.sysRoot}/kernel/debug/tracing has tracepoints; mount it with \`mount -t tracefs tracefs ${r.sysRoot}/kernel/tracing\` (in a container: mount the host's /sys/kernel/tracing)`,
    });
  });

  it('notices a kernel without syscall tracepoints or BTF', async () => {
    const noSyscalls = await checkTracerPrerequisites({ ...ok, ...(await roots({ syscalls: false })) });
    expect(noSyscalls.ok ? '' : noSyscalls.problem.code).toBe('NO_SYSCALL_TRACEPOINTS');
    const noBtf = await checkTracerPrerequisites({ ...ok, ...(await roots({ btf: false })) });
    expect(noBtf.ok ? '' : noBtf.problem.code).toBe('NO_BTF');
  });
});
