import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { request } from 'node:http';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';

/** Options of {@link runDocker}. */
export interface RunDockerOptions {
  /** `-H` value. @default the docker CLI's own default */
  dockerHost?: string;
  /** @default 30000 */
  timeoutMs?: number;
}

/** Runs the `docker` CLI with argument arrays and a timeout; resolves with trimmed stdout, rejects with stderr. */
export function runDocker(args: string[], options: RunDockerOptions = {}): Promise<string> {
  const full = options.dockerHost ? ['-H', options.dockerHost, ...args] : args;
  return new Promise((resolve, reject) => {
    execFile('docker', full, { timeout: options.timeoutMs ?? 30_000, maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`docker ${full.join(' ')} failed: ${stderr.trim() || error.message}`, { cause: error }));
      else resolve(stdout.trim());
    });
  });
}

/** True when the `dockerd` and `docker` binaries are on PATH. */
export function isDockerdInstalled(): boolean {
  const dirs = (process.env['PATH'] ?? '').split(':');
  const has = (name: string) => dirs.some((dir) => dir !== '' && existsSync(join(dir, name)));
  return has('dockerd') && has('docker');
}

/** GET /_ping on a Docker UNIX socket; true on `OK`. */
export function pingDocker(socketPath: string, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request({ socketPath, path: '/_ping', timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve(res.statusCode === 200 && body === 'OK'));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
    req.end();
  });
}

/** An isolated dockerd run by a test: own data root, exec root, pid file and socket; host network untouched. */
export interface TestDockerd {
  /** Temporary directory holding everything of this daemon. */
  dir: string;
  socketPath: string;
  /** `unix://<socketPath>`. */
  dockerHost: string;
  /** Pid of the running dockerd, 0 while stopped. */
  pid(): number;
  /** `docker -H <this daemon> ...args`. */
  docker(args: string[], timeoutMs?: number): Promise<string>;
  /** SIGTERMs dockerd and waits for it to exit (SIGKILL after 20 s). */
  stop(): Promise<void>;
  /** Starts dockerd again on the same directories and waits for `_ping`. */
  start(): Promise<void>;
  /** Removes every container, stops dockerd and deletes its directories. */
  dispose(): Promise<void>;
}

/** Options of {@link startTestDockerd}. */
export interface TestDockerdOptions {
  /** Images copied from the main daemon (`docker save | docker -H <test> load`). @default [] */
  images?: string[];
  /** Main daemon the images come from. @default the docker CLI's default */
  sourceDockerHost?: string;
  /** @default 30000 */
  startTimeoutMs?: number;
  /** `--shutdown-timeout`: seconds dockerd gives containers to stop on SIGTERM. @default 2 */
  shutdownTimeoutS?: number;
}

function pipeSaveLoad(image: string, from: string | undefined, to: string, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const save = spawn('docker', [...(from ? ['-H', from] : []), 'save', image], { stdio: ['ignore', 'pipe', 'pipe'] });
    const load = spawn('docker', ['-H', to, 'load', '-q'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stderr = '';
    save.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    load.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    save.stdout.pipe(load.stdin);
    const timer = setTimeout(() => {
      save.kill('SIGKILL');
      load.kill('SIGKILL');
    }, timeoutMs);
    let saveCode: number | null = null;
    save.on('close', (code) => (saveCode = code));
    load.on('close', (code) => {
      clearTimeout(timer);
      if (code === 0 && saveCode === 0) resolve();
      else reject(new Error(`docker save ${image} | docker -H ${to} load failed (save ${saveCode}, load ${code}): ${stderr.trim()}`));
    });
  });
}

/**
 * Starts an isolated dockerd (`--iptables=false --ip-forward=false --ip-masq=false --bridge=none`, its own
 * `--data-root`, `--exec-root`, `--pidfile` and `-H unix://<dir>/docker.sock`) and loads `images` into it.
 */
export async function startTestDockerd(options: TestDockerdOptions = {}): Promise<TestDockerd> {
  // Short path: containerd's socket lives under the exec root and UNIX socket paths are limited to 107 bytes.
  const dir = await mkdtemp('/tmp/tdd-');
  const socketPath = join(dir, 'docker.sock');
  const dockerHost = `unix://${socketPath}`;
  const startTimeoutMs = options.startTimeoutMs ?? 30_000;
  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();
  const logPath = join(dir, 'dockerd.log');

  const start = async () => {
    if (child) return;
    const { openSync, closeSync } = await import('node:fs');
    const fd = openSync(logPath, 'a');
    const proc = spawn(
      'dockerd',
      [
        '--data-root', join(dir, 'data'),
        '--exec-root', join(dir, 'exec'),
        '--pidfile', join(dir, 'docker.pid'),
        '-H', dockerHost,
        '--iptables=false', '--ip-forward=false', '--ip-masq=false', '--bridge=none',
        // busybox sleep as pid 1 ignores SIGTERM: without this each stop waits Docker's default 15 s.
        `--shutdown-timeout=${options.shutdownTimeoutS ?? 2}`,
      ],
      { stdio: ['ignore', fd, fd] },
    );
    closeSync(fd);
    child = proc;
    exited = new Promise((resolve) => proc.once('exit', () => resolve()));
    void exited.then(() => {
      if (child === proc) child = undefined;
    });
    const deadline = Date.now() + startTimeoutMs;
    while (Date.now() < deadline) {
      if (!child) throw new Error(`dockerd exited during start-up; log: ${(await readFile(logPath, 'utf8')).slice(-2000)}`);
      if (await pingDocker(socketPath)) return;
      await delay(100);
    }
    throw new Error(`dockerd on ${socketPath} did not answer _ping within ${startTimeoutMs} ms; log: ${logPath}`);
  };

  const stop = async () => {
    const proc = child;
    if (!proc) return;
    proc.kill('SIGTERM');
    const killer = setTimeout(() => proc.kill('SIGKILL'), 20_000);
    await exited;
    clearTimeout(killer);
    child = undefined;
  };

  const docker = (args: string[], timeoutMs?: number) => runDocker(args, { dockerHost, ...(timeoutMs ? { timeoutMs } : {}) });

  try {
    await start();
    for (const image of options.images ?? []) await pipeSaveLoad(image, options.sourceDockerHost, dockerHost, 60_000);
  } catch (error) {
    await stop();
    await rm(dir, { recursive: true, force: true }).catch(() => undefined);
    throw error;
  }

  return {
    dir,
    socketPath,
    dockerHost,
    pid: () => child?.pid ?? 0,
    docker,
    stop,
    start,
    async dispose() {
      if (child) {
        const ids = await docker(['ps', '-aq']).catch(() => '');
        if (ids !== '') await docker(['rm', '-f', '-v', ...ids.split('\n')], 60_000).catch(() => undefined);
      }
      await stop();
      // dockerd unmounts its layers on a clean stop; a leftover mount makes rm fail, which must not fail the test run.
      await rm(dir, { recursive: true, force: true }).catch(() => undefined);
    },
  };
}
