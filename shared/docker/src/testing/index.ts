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

/** Unmounts whatever is still mounted below `dir` (deepest first), so the directory can be deleted. */
async function unmountBelow(dir: string): Promise<void> {
  const mountinfo = await readFile('/proc/self/mountinfo', 'utf8').catch(() => '');
  // Field 5 is the mount point, with spaces and the like octal-escaped.
  const points = mountinfo
    .split('\n')
    .map((line) => line.split(' ')[4]?.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8))))
    .filter((point): point is string => point !== undefined && point.startsWith(`${dir}/`))
    .sort((a, b) => b.length - a.length);
  for (const point of points) {
    await new Promise<void>((resolve) => execFile('umount', [point], { timeout: 10_000 }, () => resolve()));
  }
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
      // dockerd unmounts its layers on a clean stop; anything left would make rm fail.
      await unmountBelow(dir);
      await rm(dir, { recursive: true, force: true }).catch(() => undefined);
    },
  };
}

/** True when the `podman` binary is on PATH. */
export function isPodmanInstalled(): boolean {
  return (process.env['PATH'] ?? '').split(':').some((dir) => dir !== '' && existsSync(join(dir, 'podman')));
}

/** A podman Docker-compatible API service run by a test, with its own storage. */
export interface TestPodman {
  dir: string;
  socketPath: string;
  /** `unix://<socketPath>`. */
  dockerHost: string;
  /** Runs the podman CLI on this instance's storage. */
  podman(args: string[], timeoutMs?: number): Promise<string>;
  /** Removes every container, stops the service and deletes its directories. */
  dispose(): Promise<void>;
}

/**
 * Starts `podman system service --time=0 unix://<dir>/podman.sock` with its own `--root`, `--runroot`,
 * `--tmpdir` and a `containers.conf` (the ulimits this machine needs, network `none` so the host network is
 * untouched), and loads `images` from the main Docker daemon (`docker save | podman load`).
 */
export async function startTestPodman(options: { images?: string[]; startTimeoutMs?: number } = {}): Promise<TestPodman> {
  const dir = await mkdtemp('/tmp/tpm-');
  const socketPath = join(dir, 'podman.sock');
  const conf = join(dir, 'containers.conf');
  const { writeFile } = await import('node:fs/promises');
  await writeFile(conf, '[containers]\ndefault_ulimits=["nofile=20000:20000","nproc=4096:4096"]\nnetns="none"\n');
  const env = { ...process.env, CONTAINERS_CONF: conf };
  const globals = ['--root', join(dir, 'root'), '--runroot', join(dir, 'run'), '--tmpdir', join(dir, 'tmp'), '--cgroup-manager', 'cgroupfs', '--events-backend', 'file'];
  const podman = (args: string[], timeoutMs = 60_000) =>
    new Promise<string>((resolve, reject) => {
      execFile('podman', [...globals, ...args], { env, timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) => {
        if (error) reject(new Error(`podman ${args.join(' ')} failed: ${stderr.trim() || error.message}`, { cause: error }));
        else resolve(stdout.trim());
      });
    });
  const service = spawn('podman', [...globals, 'system', 'service', '--time=0', `unix://${socketPath}`], { env, stdio: 'ignore' });
  let alive = true;
  const exited = new Promise<void>((resolve) => service.once('exit', () => { alive = false; resolve(); }));
  const stop = async () => {
    if (!alive) return;
    service.kill('SIGTERM');
    const killer = setTimeout(() => service.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(killer);
  };
  try {
    const deadline = Date.now() + (options.startTimeoutMs ?? 30_000);
    while (!(await pingDocker(socketPath))) {
      if (!alive) throw new Error('podman system service exited during start-up');
      if (Date.now() > deadline) throw new Error(`podman service on ${socketPath} did not answer _ping in time`);
      await delay(100);
    }
    for (const image of options.images ?? []) {
      await new Promise<void>((resolve, reject) => {
        const save = spawn('docker', ['save', image], { stdio: ['ignore', 'pipe', 'ignore'] });
        const load = spawn('podman', [...globals, 'load', '-q'], { env, stdio: ['pipe', 'ignore', 'pipe'] });
        let stderr = '';
        load.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
        save.stdout.pipe(load.stdin);
        const timer = setTimeout(() => { save.kill('SIGKILL'); load.kill('SIGKILL'); }, 60_000);
        load.on('close', (code) => {
          clearTimeout(timer);
          if (code === 0) resolve();
          else reject(new Error(`docker save ${image} | podman load failed (${code}): ${stderr.trim()}`));
        });
      });
    }
  } catch (error) {
    await stop();
    await rm(dir, { recursive: true, force: true }).catch(() => undefined);
    throw error;
  }
  return {
    dir,
    socketPath,
    dockerHost: `unix://${socketPath}`,
    podman,
    async dispose() {
      await podman(['rm', '-af', '-t', '0']).catch(() => undefined);
      await stop();
      // containers/storage leaves a private bind mount of root/overlay behind; rm would fail on it.
      await unmountBelow(dir);
      await rm(dir, { recursive: true, force: true }).catch(() => undefined);
    },
  };
}
