#!/usr/bin/env node
// @ts-check
/**
 * Preflight of `scripts/suite.sh`: one line per plugin saying what it could not find on this host
 * and how to fix it, or `ok`. It only looks (files, sockets, PATH, credentials): it installs,
 * mounts and starts nothing. A plugin whose source is missing still serves (a report that says
 * so), so these lines are advice, never a reason to stop.
 *
 * usage: node scripts/preflight.mjs [id ...]   (all known plugins when none)
 * env:   DOCKER_HOST (unix:///path or tcp://host:port), SCOPE_PLUGINS_INSTALL_BPFTRACE (for the hint)
 */
import { constants } from 'node:fs';
import { access, readFile, stat } from 'node:fs/promises';
import { request } from 'node:http';
import { delimiter, join } from 'node:path';

/** @typedef {{ uid: number, capEff: bigint }} Credentials */

/** True when `path` exists (any type). */
async function exists(path) {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

/** The first executable `name` in PATH, or undefined. */
async function which(name) {
  for (const dir of (process.env['PATH'] ?? '').split(delimiter)) {
    if (!dir) continue;
    try {
      await access(join(dir, name), constants.X_OK);
      return join(dir, name);
    } catch {
      // not in this directory
    }
  }
  return undefined;
}

/** Effective uid and capabilities of this process, from /proc/self/status. @returns {Promise<Credentials>} */
async function credentials() {
  const status = await readFile('/proc/self/status', 'utf8').catch(() => '');
  const uid = /^Uid:\s+\d+\s+(\d+)/m.exec(status);
  const cap = /^CapEff:\s+([0-9a-fA-F]+)/m.exec(status);
  return { uid: uid ? Number(uid[1]) : (process.geteuid?.() ?? -1), capEff: cap ? BigInt(`0x${cap[1]}`) : 0n };
}

/**
 * Pings the Docker engine the plugins would use (DOCKER_HOST, else /var/run/docker.sock).
 * @returns {Promise<string | undefined>} undefined when it answers, else what is wrong and how to fix it
 */
async function dockerProblem() {
  const docker = process.env['DOCKER_HOST'] || 'unix:///var/run/docker.sock';
  /** @type {import('node:http').RequestOptions} */
  const target = { path: '/_ping', method: 'GET', timeout: 2000 };
  if (docker.startsWith('unix://')) target.socketPath = docker.slice('unix://'.length);
  else if (docker.startsWith('tcp://')) {
    const url = new URL(`http://${docker.slice('tcp://'.length)}`);
    target.host = url.hostname;
    target.port = url.port || '2375';
  } else return `DOCKER_HOST=${docker} is neither unix:// nor tcp://; set it to unix:///var/run/docker.sock or tcp://HOST:PORT`;
  const where = target.socketPath ?? `${target.host}:${target.port}`;
  if (target.socketPath && !(await exists(target.socketPath))) {
    return `no Docker socket at ${where}: start the Docker engine (e.g. \`service docker start\`) or point DOCKER_HOST at it; until then it serves no containers and retries`;
  }
  return new Promise((resolve) => {
    const req = request(target, (res) => {
      res.resume();
      resolve(res.statusCode === 200 ? undefined : `Docker at ${where} answered ${res.statusCode} to /_ping: check the engine's log`);
    });
    req.on('timeout', () => req.destroy(new Error('no answer within 2 s')));
    req.on('error', (/** @type {NodeJS.ErrnoException} */ error) => {
      if (error.code === 'EACCES') resolve(`cannot open ${where} (permission denied): run as root or as a member of the socket's group`);
      else if (error.code === 'ECONNREFUSED') resolve(`nothing listens on ${where} (stale socket, engine stopped): start the Docker engine; until then it serves no containers and retries`);
      else resolve(`Docker at ${where} does not answer (${error.message}): start the engine or fix DOCKER_HOST; until then it serves no containers and retries`);
    });
    req.end();
  });
}

/** @type {Record<string, () => Promise<string[]>>} What each plugin needs, as problems with their fix. */
const CHECKS = {
  iowait: async () => {
    const problems = [];
    if (!(await exists('/proc/stat'))) problems.push('no /proc/stat: mount procfs, or pass --proc-root with a host /proc');
    if (!(await exists('/proc/pressure/io'))) problems.push('no PSI (/proc/pressure/io): the IO pressure rows stay empty; boot a kernel with CONFIG_PSI=y and psi=1');
    if (!(await exists('/proc/diskstats'))) problems.push('no /proc/diskstats: the disk table stays empty');
    if (!(await exists('/sys/class/block'))) problems.push('no /sys/class/block: disk sizes and kinds stay empty; mount sysfs, or pass --sys-root with a host /sys');
    return problems;
  },
  'host-namespaces': async () => {
    const problems = [];
    const { uid, capEff } = await credentials();
    // CAP_SYS_PTRACE (19) is what reading another user's /proc/<pid>/ns/* needs.
    if (uid !== 0 && (capEff & (1n << 19n)) === 0n) problems.push(`not root (uid ${uid}): only your own processes' namespaces are visible; run as root (or with CAP_SYS_PTRACE)`);
    const docker = await dockerProblem();
    if (docker) problems.push(`${docker.replace('it serves no containers and retries', 'it retries, and containers get no namespace row')} (optional: host namespaces are still shown)`);
    return problems;
  },
  'volume-count': async () => {
    const docker = await dockerProblem();
    return docker ? [docker] : [];
  },
  'http-stats': async () => {
    const problems = [];
    if (!(await which('bpftrace'))) {
      problems.push('bpftrace not found: rerun with `bash scripts/suite.sh --install-bpftrace` (or SCOPE_PLUGINS_INSTALL_BPFTRACE=1) to install it, or `apt-get install -y bpftrace` yourself');
    }
    const { uid } = await credentials();
    if (uid !== 0) problems.push(`not root (uid ${uid}): bpftrace only runs as root; run the suite as root`);
    if (!(await exists('/sys/kernel/tracing/events')) && !(await exists('/sys/kernel/debug/tracing/events'))) {
      problems.push('tracefs is not mounted: `mount -t tracefs tracefs /sys/kernel/tracing`');
    } else if (!(await exists('/sys/kernel/tracing/events/syscalls')) && !(await exists('/sys/kernel/debug/tracing/events/syscalls'))) {
      problems.push('the kernel has no syscall tracepoints (CONFIG_FTRACE_SYSCALLS=y is needed)');
    }
    if (!(await exists('/sys/kernel/btf/vmlinux'))) problems.push('no kernel BTF (/sys/kernel/btf/vmlinux): a kernel built with CONFIG_DEBUG_INFO_BTF=y is needed');
    return problems;
  },
};

const ids = process.argv.slice(2);
for (const id of ids.length > 0 ? ids : Object.keys(CHECKS)) {
  const check = CHECKS[id];
  const problems = check ? await check() : [];
  const verdict = !check ? 'no preflight known for this plugin (its report says what it misses)' : problems.length === 0 ? 'ok' : problems.join('; ');
  process.stdout.write(`[preflight] ${id}: ${verdict}\n`);
}
