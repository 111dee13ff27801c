/**
 * Test helpers: a real containerd with its CRI plugin, run by a test on its own root, state and socket, and
 * pods made through the CRI API the way kubelet makes them (volumes laid out under a temporary kubelet root).
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, openSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { randomBytes } from 'node:crypto';
import { createCriClient, type CriClient, type CriContainerConfig, type CriMount, type CriPodSandboxConfig } from '../client.js';

/** The image containerd uses as the sandbox ("pause") image in these tests. */
export const TEST_SANDBOX_IMAGE = 'docker.io/scope-plugins-test/pause:latest';
/** The workload image (the busybox image `scripts/provision.sh` imports into Docker). */
export const TEST_WORKLOAD_IMAGE = 'docker.io/scope-plugins-test/busybox:latest';

function onPath(name: string): boolean {
  return (process.env['PATH'] ?? '').split(':').some((dir) => dir !== '' && existsSync(join(dir, name)));
}

/** Which of the binaries a containerd test needs are missing (containerd, ctr, runc, docker for the image, the CNI bridge plugin). */
export function missingContainerdComponents(cniBinDir = '/usr/lib/cni'): string[] {
  const missing = ['containerd', 'ctr', 'runc', 'docker'].filter((name) => !onPath(name));
  if (!existsSync(join(cniBinDir, 'bridge')) || !existsSync(join(cniBinDir, 'host-local'))) missing.push(`CNI plugins in ${cniBinDir}`);
  return missing;
}

function run(file: string, args: string[], timeoutMs = 60_000): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(file, args, { timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`${file} ${args.join(' ')} failed: ${stderr.trim() || error.message}`, { cause: error }));
      else resolve(stdout.trim());
    });
  });
}

/** An isolated containerd with CRI, started by a test. */
export interface TestContainerd {
  /** Temporary directory holding root, state, socket, config and log. */
  dir: string;
  /** containerd's `state` directory (the OCI bundles live under `io.containerd.runtime.v2.task/k8s.io/<id>/`). */
  stateDir: string;
  socketPath: string;
  /** `unix://<socketPath>`. */
  endpoint: string;
  /** A CRI client on this instance (kept open across stop/start: grpc-js reconnects). */
  cri: CriClient;
  /** Pid of the running containerd, 0 while stopped. */
  pid(): number;
  /** `ctr --address <socket> -n k8s.io ...args`. */
  ctr(args: string[], timeoutMs?: number): Promise<string>;
  /** SIGTERMs containerd and waits for it to exit; its shims (and so the pods) keep running, as on a real node. */
  stop(): Promise<void>;
  /** Starts containerd again on the same directories and waits for CRI to answer. */
  start(): Promise<void>;
  /** Removes every pod through CRI, stops containerd, deletes the bridge link and the directories. */
  dispose(): Promise<void>;
}

/** Options of {@link startTestContainerd}. */
export interface TestContainerdOptions {
  /** Docker image imported as both the sandbox and the workload image. @default 'scope-plugins-test/busybox:latest' */
  dockerImage?: string;
  /** @default '/usr/lib/cni' */
  cniBinDir?: string;
  /** @default 30000 */
  startTimeoutMs?: number;
  /** With false, the CRI plugin is disabled (as Docker's own containerd has it) and no image is imported. @default true */
  cri?: boolean;
}

/**
 * Starts containerd 1.6+ with its own `root`, `state`, gRPC socket and a CRI config this machine accepts
 * (`restrict_oom_score_adj = true`, a local sandbox image, a bridge CNI network of its own with `ipMasq: false`
 * and host-local IPAM under the test directory), and imports the image from the Docker engine into `k8s.io`.
 */
export async function startTestContainerd(options: TestContainerdOptions = {}): Promise<TestContainerd> {
  // Short path: the socket path must stay under 107 bytes.
  const dir = await mkdtemp('/tmp/tcd-');
  const stateDir = join(dir, 'state');
  const socketPath = join(dir, 'c.sock');
  const endpoint = `unix://${socketPath}`;
  const cniConfDir = join(dir, 'cni');
  const bridge = `spc${randomBytes(3).toString('hex')}`;
  const subnet = `10.${200 + (randomBytes(1)[0]! % 50)}.${randomBytes(1)[0]!}.0/24`;
  await mkdir(cniConfDir, { recursive: true });
  await writeFile(
    join(cniConfDir, '10-test.conflist'),
    JSON.stringify({
      cniVersion: '0.4.0',
      name: `scope-plugins-${bridge}`,
      plugins: [{ type: 'bridge', bridge, isGateway: false, ipMasq: false, ipam: { type: 'host-local', subnet, dataDir: join(dir, 'ipam') } }],
    }),
  );
  const configPath = join(dir, 'config.toml');
  await writeFile(
    configPath,
    [
      'version = 2',
      ...(options.cri === false ? ['disabled_plugins = ["io.containerd.grpc.v1.cri"]'] : []),
      `root = "${join(dir, 'root')}"`,
      `state = "${stateDir}"`,
      '[grpc]',
      `  address = "${socketPath}"`,
      '[ttrpc]',
      `  address = "${socketPath}.ttrpc"`,
      '[plugins."io.containerd.grpc.v1.cri"]',
      `  sandbox_image = "${TEST_SANDBOX_IMAGE}"`,
      // This machine cannot lower oom_score_adj: without this every sandbox fails ("can't get final child's PID from pipe").
      '  restrict_oom_score_adj = true',
      '  [plugins."io.containerd.grpc.v1.cri".cni]',
      `    bin_dir = "${options.cniBinDir ?? '/usr/lib/cni'}"`,
      `    conf_dir = "${cniConfDir}"`,
      '',
    ].join('\n'),
  );
  const logPath = join(dir, 'containerd.log');
  const startTimeoutMs = options.startTimeoutMs ?? 30_000;
  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();
  const cri = createCriClient({ endpoint, timeoutMs: 30_000 });

  const start = async () => {
    if (child) return;
    const fd = openSync(logPath, 'a');
    const proc = spawn('containerd', ['--config', configPath], { stdio: ['ignore', fd, fd] });
    closeSync(fd);
    child = proc;
    exited = new Promise((resolve) => proc.once('exit', () => resolve()));
    void exited.then(() => {
      if (child === proc) child = undefined;
    });
    const deadline = Date.now() + startTimeoutMs;
    while (Date.now() < deadline) {
      if (!child) throw new Error(`containerd exited during start-up; log: ${(await readFile(logPath, 'utf8')).slice(-2000)}`);
      try {
        // Without CRI, containerd's own API answering (ctr version) is the sign it is up.
        if (options.cri === false) await run('ctr', ['--address', socketPath, 'version'], 5000);
        else await cri.version();
        return;
      } catch {
        await delay(100);
      }
    }
    throw new Error(`containerd on ${socketPath} did not answer CRI Version within ${startTimeoutMs} ms; log: ${logPath}`);
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

  const ctr = (args: string[], timeoutMs?: number) => run('ctr', ['--address', socketPath, '-n', 'k8s.io', ...args], timeoutMs);

  const importImage = async (image: string) => {
    const tar = join(dir, 'image.tar');
    await run('docker', ['save', '-o', tar, image]);
    await ctr(['images', 'import', tar]);
    await rm(tar, { force: true });
    // `docker save` names the image docker.io/<name>:latest in containerd; the sandbox image is a second name for it.
    await ctr(['images', 'tag', '--force', TEST_WORKLOAD_IMAGE, TEST_SANDBOX_IMAGE]);
  };

  const dispose = async () => {
    if (child) {
      // Shims outlive containerd: pods must go through CRI while it runs, or their processes and mounts stay.
      const pods = await cri.listPodSandboxes().catch(() => []);
      for (const pod of pods) {
        await cri.stopPodSandbox(pod.id).catch(() => undefined);
        await cri.removePodSandbox(pod.id).catch(() => undefined);
      }
    }
    cri.close();
    await stop();
    await run('ip', ['link', 'delete', bridge], 10_000).catch(() => undefined);
    await unmountBelow(dir);
    await rm(dir, { recursive: true, force: true }).catch(() => undefined);
  };

  try {
    await start();
    if (options.cri !== false) await importImage(options.dockerImage ?? 'scope-plugins-test/busybox:latest');
  } catch (error) {
    await dispose();
    throw error;
  }

  return { dir, stateDir, socketPath, endpoint, cri, pid: () => child?.pid ?? 0, ctr, stop, start, dispose };
}

/** Unmounts whatever is still mounted below `dir` (deepest first), so the directory can be deleted. */
async function unmountBelow(dir: string): Promise<void> {
  const mountinfo = await readFile('/proc/self/mountinfo', 'utf8').catch(() => '');
  const points = mountinfo
    .split('\n')
    .map((line) => line.split(' ')[4]?.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8))))
    .filter((point): point is string => point !== undefined && point.startsWith(`${dir}/`))
    .sort((a, b) => b.length - a.length);
  for (const point of points) await run('umount', [point], 10_000).catch(() => undefined);
}

/** A pod volume as a pod spec declares it; laid out on disk the way kubelet does. */
export type TestVolume =
  | { name: string; kind: 'configMap' | 'secret' | 'emptyDir' | 'projected' | 'csi' | 'downwardAPI'; mountPath: string; readOnly?: boolean }
  | { name: string; kind: 'hostPath'; hostPath: string; mountPath: string; readOnly?: boolean }
  | { name: string; kind: 'serviceAccountToken'; mountPath?: string };

/** The kubelet volume plugin directory of each kind (`volumes/kubernetes.io~<plugin>/<name>`). */
const PLUGIN_DIRS = { configMap: 'configmap', secret: 'secret', emptyDir: 'empty-dir', projected: 'projected', csi: 'csi', downwardAPI: 'downward-api' } as const;

/** A pod run by {@link runTestPod}. */
export interface TestPod {
  sandboxId: string;
  containerIds: string[];
  uid: string;
  /** Stops and removes the pod through CRI. */
  remove(): Promise<void>;
}

/** Options of {@link runTestPod}. */
export interface TestPodOptions {
  name: string;
  namespace: string;
  /** Temporary kubelet root (`/var/lib/kubelet` on a node): volumes go to `<kubeletRoot>/pods/<uid>/volumes/...`. */
  kubeletRoot: string;
  hostNetwork?: boolean;
  hostPid?: boolean;
  hostIpc?: boolean;
  /** One container per entry, each mounting every volume. @default [{ name: 'main' }] */
  containers?: { name: string }[];
  volumes?: TestVolume[];
}

/**
 * Runs a pod the way kubelet does through CRI: the sandbox with the pod's namespace options (host network pods
 * get no hostname: runc cannot set one in the host's UTS namespace), then each container with the pod's
 * volumes as mounts from kubelet's directory layout, the service-account token as the projected
 * `kube-api-access-*` volume at `/var/run/secrets/kubernetes.io/serviceaccount`, and kubelet's own
 * `/etc/hosts` and `/dev/termination-log` files.
 */
export async function runTestPod(cri: CriClient, options: TestPodOptions): Promise<TestPod> {
  const uid = `${randomBytes(4).toString('hex')}-${randomBytes(2).toString('hex')}-4${randomBytes(2).toString('hex').slice(1)}-8${randomBytes(2).toString('hex').slice(1)}-${randomBytes(6).toString('hex')}`;
  const podDir = join(options.kubeletRoot, 'pods', uid);
  const namespaceOptions = { network: options.hostNetwork ? 'NODE' : 'POD', pid: options.hostPid ? 'NODE' : 'CONTAINER', ipc: options.hostIpc ? 'NODE' : 'POD' } as const;
  const sandboxConfig: CriPodSandboxConfig = {
    metadata: { name: options.name, namespace: options.namespace, uid, attempt: 0 },
    ...(options.hostNetwork ? {} : { hostname: options.name }),
    logDirectory: join(podDir, 'logs'),
    labels: { 'io.kubernetes.pod.name': options.name, 'io.kubernetes.pod.namespace': options.namespace, 'io.kubernetes.pod.uid': uid },
    linux: { securityContext: { namespaceOptions } },
  };
  const mounts: Partial<CriMount>[] = [];
  for (const volume of options.volumes ?? []) {
    if (volume.kind === 'hostPath') {
      await mkdir(volume.hostPath, { recursive: true });
      mounts.push({ containerPath: volume.mountPath, hostPath: volume.hostPath, readonly: volume.readOnly ?? false });
      continue;
    }
    const plugin = volume.kind === 'serviceAccountToken' ? 'projected' : PLUGIN_DIRS[volume.kind];
    const hostPath = join(podDir, 'volumes', `kubernetes.io~${plugin}`, volume.name, ...(volume.kind === 'csi' ? ['mount'] : []));
    await mkdir(hostPath, { recursive: true });
    const mountPath = volume.kind === 'serviceAccountToken' ? (volume.mountPath ?? '/var/run/secrets/kubernetes.io/serviceaccount') : volume.mountPath;
    // kubelet mounts configMap, secret, projected and downwardAPI volumes read-only.
    const readonly = volume.kind === 'serviceAccountToken' || volume.kind === 'configMap' || volume.kind === 'secret' || volume.kind === 'projected' || volume.kind === 'downwardAPI' ? true : (volume.readOnly ?? false);
    mounts.push({ containerPath: mountPath, hostPath, readonly });
  }
  await mkdir(join(podDir, 'logs'), { recursive: true });
  await writeFile(join(podDir, 'etc-hosts'), '127.0.0.1\tlocalhost\n');
  const sandboxId = await cri.runPodSandbox(sandboxConfig);
  const containerIds: string[] = [];
  try {
    for (const { name } of options.containers ?? [{ name: 'main' }]) {
      const terminationLog = join(podDir, 'containers', name, randomBytes(4).toString('hex'));
      await mkdir(join(podDir, 'containers', name), { recursive: true });
      await writeFile(terminationLog, '');
      const config: CriContainerConfig = {
        metadata: { name, attempt: 0 },
        image: { image: TEST_WORKLOAD_IMAGE },
        command: ['/bin/sleep', '3600'],
        mounts: [
          ...mounts,
          { containerPath: '/etc/hosts', hostPath: join(podDir, 'etc-hosts') },
          { containerPath: '/dev/termination-log', hostPath: terminationLog },
        ],
        labels: { 'io.kubernetes.container.name': name, 'io.kubernetes.pod.name': options.name, 'io.kubernetes.pod.namespace': options.namespace, 'io.kubernetes.pod.uid': uid },
        logPath: `${name}/0.log`,
        linux: { securityContext: { namespaceOptions } },
      };
      const id = await cri.createContainer(sandboxId, config, sandboxConfig);
      containerIds.push(id);
      await cri.startContainer(id);
    }
  } catch (error) {
    await cri.stopPodSandbox(sandboxId).catch(() => undefined);
    await cri.removePodSandbox(sandboxId).catch(() => undefined);
    throw error;
  }
  return {
    sandboxId,
    containerIds,
    uid,
    async remove() {
      await cri.stopPodSandbox(sandboxId);
      await cri.removePodSandbox(sandboxId);
    },
  };
}
