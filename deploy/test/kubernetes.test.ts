/**
 * deploy/kubernetes/scope-plugins.yaml, checked offline (no cluster can run here): every object
 * validates with kubernetes-models, no field unknown to the Kubernetes API slipped in (checked
 * against kubernetes-types), the bundle drops into Scope's own install (namespace `weave`, every
 * node, the plugins hostPath, SCOPE_HOSTNAME from spec.nodeName), and each plugin gets the same
 * capabilities, mounts, pid namespace and user as in docker-compose.yml.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments, parse } from 'yaml';
import { beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { DaemonSet } from 'kubernetes-models/apps/v1/DaemonSet';
import { ServiceAccount } from 'kubernetes-models/v1/ServiceAccount';
import type { Container, PodSpec, Volume } from 'kubernetes-types/core/v1.js';
import type { DaemonSet as DaemonSetType } from 'kubernetes-types/apps/v1.js';
import { requireComponent } from '@scope-plugins/core/testing';
import { unknownFieldProblems } from './helpers/k8s-fields.js';
import { pluginPackages } from './helpers/packages.js';
import { DEPLOY_DIR, REPO_ROOT, onPath, runOk } from './helpers/run.js';

const MANIFEST = join(DEPLOY_DIR, 'kubernetes', 'scope-plugins.yaml');
const PLUGIN_IDS = [...pluginPackages().keys()].sort();
const documents = parseAllDocuments(readFileSync(MANIFEST, 'utf8'));
const objects = documents.map((d) => d.toJS() as Record<string, any>);
const daemonSet = objects.find((o) => o['kind'] === 'DaemonSet') as DaemonSetType;
const pod = daemonSet.spec!.template.spec as PodSpec;
const containers = new Map(pod.containers.map((c) => [c.name, c]));
const volumes = new Map((pod.volumes ?? []).map((v) => [v.name, v]));

const MODELS: Record<string, new (data: any) => { validate(): void }> = { DaemonSet, ServiceAccount };

function clone<T>(value: T): T {
  return structuredClone(value);
}

/** A container's mounts as `host path -> container path (ro|rw)`, resolved through the pod's volumes. */
function k8sMounts(container: Container): string[] {
  return (container.volumeMounts ?? [])
    .map((m) => {
      const volume = volumes.get(m.name) as Volume | undefined;
      if (!volume?.hostPath) throw new Error(`${container.name}: mount ${m.name} is not a hostPath volume`);
      return `${volume.hostPath.path} -> ${m.mountPath} (${m.readOnly ? 'ro' : 'rw'})`;
    })
    .sort();
}

/** The node's container runtime socket: compose (Docker hosts) mounts docker.sock, the DaemonSet (Kubernetes nodes) containerd's CRI socket. */
const CRI_SOCKET = '/run/containerd/containerd.sock';
const RUNTIME_SOCKET_MOUNTS = [`/var/run/docker.sock -> /var/run/docker.sock (ro)`, `${CRI_SOCKET} -> ${CRI_SOCKET} (ro)`];
/** The environment that names the runtime: DOCKER_HOST in compose, the runtime and its CRI endpoint in the DaemonSet. */
const RUNTIME_ENV = ['DOCKER_HOST', 'SCOPE_CONTAINER_RUNTIME', 'CONTAINER_RUNTIME_ENDPOINT'];

/** Mounts with the runtime socket (whichever it is) written as one placeholder, to compare compose with Kubernetes. */
function runtimeNeutral(mounts: string[]): string[] {
  return mounts.map((m) => (RUNTIME_SOCKET_MOUNTS.includes(m) ? '<container runtime socket> (ro)' : m));
}

/** A compose service's mounts in the same form (`docker-compose config` writes host:container:mode). */
function composeMounts(service: Record<string, any>): string[] {
  return (service['volumes'] as string[]).map((v) => {
    const [host, target, mode] = v.split(':');
    return `${host} -> ${target} (${mode === 'ro' ? 'ro' : 'rw'})`;
  }).sort();
}

describe('objects', () => {
  it('are a ServiceAccount and a DaemonSet, both in Scope\'s namespace `weave`', () => {
    expect(documents.map((d) => d.errors)).toEqual(documents.map(() => []));
    expect(objects.map((o) => [o['kind'], o['metadata']?.['namespace']])).toEqual([
      ['ServiceAccount', 'weave'],
      ['DaemonSet', 'weave'],
    ]);
  });

  it.each(objects.map((o) => [`${o['kind']} ${o['metadata']?.['name']}`, o] as const))('%s validates with kubernetes-models', (_, object) => {
    const Model = MODELS[object['kind']];
    expect(Model, `no model for ${object['kind']}`).toBeDefined();
    expect(() => new Model!(object).validate()).not.toThrow();
  });

  it('kubernetes-models rejects a wrongly typed value (the validation is live)', () => {
    const broken = clone(daemonSet) as any;
    broken.spec.template.spec.containers[0].securityContext.runAsUser = 'zero';
    expect(() => new DaemonSet(broken).validate()).toThrow(/runAsUser must be integer/);
  });

  it('no object has a field the Kubernetes API does not know', () => {
    expect(unknownFieldProblems(objects)).toEqual([]);
  });

  it('the unknown-field check catches misspelled and misplaced fields at any depth', () => {
    const broken = clone(daemonSet) as any;
    broken.spec.template.spec.containers[1].securityContex = { runAsUser: 0 };
    broken.spec.template.spec.hostPid = true;
    broken.spec.template.spec.volumes[0].hostPath.kind = 'DirectoryOrCreate';
    const problems = unknownFieldProblems([broken]).join('\n');
    expect(problems).toMatch(/DaemonSet\.spec\.template\.spec\.containers\[1\]\.securityContex: unknown field/);
    expect(problems).toMatch(/DaemonSet\.spec\.template\.spec\.hostPid: unknown field/);
    expect(problems).toMatch(/DaemonSet\.spec\.template\.spec\.volumes\[0\]\.hostPath\.kind: unknown field \(HostPathVolumeSource has path, type\)/);
    // …and kubernetes-models alone would have let all three through.
    expect(() => new DaemonSet(broken).validate()).not.toThrow();
  });
});

describe('DaemonSet', () => {
  it('runs one container per plugin, plus the init container that makes the plugins root', () => {
    expect([...containers.keys()].sort()).toEqual(PLUGIN_IDS);
    expect(pod.initContainers?.map((c) => c.name)).toEqual(['plugins-root']);
    for (const [id, c] of containers) expect(c.args, id).toEqual(['run', id]);
  });

  it('runs on every node whatever its taints, with its own token-less service account', () => {
    expect(pod.tolerations).toEqual([{ operator: 'Exists' }]);
    const account = objects.find((o) => o['kind'] === 'ServiceAccount')!;
    expect(pod.serviceAccountName).toBe(account['metadata']['name']);
    expect(account['automountServiceAccountToken']).toBe(false);
    expect(pod.automountServiceAccountToken).toBe(false);
    expect(daemonSet.spec!.selector.matchLabels).toEqual(daemonSet.spec!.template.metadata!.labels && Object.fromEntries(Object.entries(daemonSet.spec!.template.metadata!.labels).filter(([k]) => k in daemonSet.spec!.selector.matchLabels!)));
  });

  it('shares the host\'s /var/run/scope/plugins (created if missing) with every container', () => {
    const plugins = [...volumes.values()].find((v) => v.hostPath?.path === '/var/run/scope/plugins');
    expect(plugins?.hostPath).toEqual({ path: '/var/run/scope/plugins', type: 'DirectoryOrCreate' });
    for (const c of [...pod.containers, ...(pod.initContainers ?? [])]) {
      expect(c.volumeMounts, c.name).toContainEqual({ name: plugins!.name, mountPath: '/var/run/scope/plugins' });
    }
  });

  it('sets SCOPE_HOSTNAME from spec.nodeName in every plugin container, as Scope\'s own DaemonSet does', () => {
    for (const c of pod.containers) {
      expect(c.env?.find((e) => e.name === 'SCOPE_HOSTNAME'), c.name).toEqual({ name: 'SCOPE_HOSTNAME', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } });
    }
  });

  it('gives every container requests and limits for cpu and memory', () => {
    for (const c of [...pod.containers, ...(pod.initContainers ?? [])]) {
      expect(Object.keys(c.resources?.requests ?? {}).sort(), c.name).toEqual(['cpu', 'memory']);
      expect(Object.keys(c.resources?.limits ?? {}).sort(), c.name).toEqual(['cpu', 'memory']);
    }
  });

  it('hardens every container: no privileged, no privilege escalation, read-only root, all capabilities dropped', () => {
    expect(pod.hostNetwork).toBeUndefined();
    expect(pod.securityContext?.seccompProfile).toEqual({ type: 'RuntimeDefault' });
    for (const c of [...pod.containers, ...(pod.initContainers ?? [])]) {
      expect(c.securityContext?.privileged, c.name).toBeUndefined();
      expect(c.securityContext?.allowPrivilegeEscalation, c.name).toBe(false);
      expect(c.securityContext?.readOnlyRootFilesystem, c.name).toBe(true);
      expect(c.securityContext?.capabilities?.drop, c.name).toEqual(['ALL']);
      expect(c.image, c.name).toBe(pod.containers[0]!.image);
    }
  });

  it('gives each non-root plugin its socket directory in the init container', () => {
    const script = (pod.initContainers![0]!.args ?? []).join('\n');
    for (const c of pod.containers) {
      if ((c.securityContext?.runAsUser ?? 0) !== 0) expect(script, c.name).toContain(`'${c.name}'`);
    }
  });
});

describe('container runtime socket (Kubernetes nodes run containerd, not Docker)', () => {
  const runtimeVolumes = [...volumes.values()].filter((v) => v.hostPath?.path === CRI_SOCKET);

  it('is the CRI socket only, typed Socket, so a node without it does not get an empty directory in its place', () => {
    expect(runtimeVolumes.map((v) => v.hostPath)).toEqual([{ path: CRI_SOCKET, type: 'Socket' }]);
    // Neither Docker's socket nor containerd's directories (shim sockets, runc state, images) reach any container.
    const hostPaths = [...volumes.values()].map((v) => v.hostPath?.path ?? '');
    expect(hostPaths.filter((p) => p.includes('docker') || p === '/run/containerd' || p.startsWith('/var/lib/containerd') || p.startsWith('/run/containerd/io.'))).toEqual([]);
  });

  it('is mounted read-only into exactly the plugins that follow containers, at the endpoint their environment names', () => {
    const mounting = pod.containers.filter((c) => (c.volumeMounts ?? []).some((m) => m.name === runtimeVolumes[0]!.name)).map((c) => c.name).sort();
    expect(mounting).toEqual(['host-namespaces', 'volume-count']);
    for (const id of mounting) {
      const c = containers.get(id)!;
      expect(c.volumeMounts?.find((m) => m.name === runtimeVolumes[0]!.name), id).toEqual({ name: runtimeVolumes[0]!.name, mountPath: CRI_SOCKET, readOnly: true });
      const env = Object.fromEntries((c.env ?? []).map((e) => [e.name, e.value]));
      expect([env['SCOPE_CONTAINER_RUNTIME'], env['CONTAINER_RUNTIME_ENDPOINT'], env['DOCKER_HOST']], id).toEqual(['containerd', `unix://${CRI_SOCKET}`, undefined]);
      // The socket is root-only: root, but still no capability beyond what the plugin needs for itself.
      expect(c.securityContext?.runAsUser, id).toBe(0);
    }
    expect(containers.get('volume-count')!.securityContext?.capabilities?.add).toBeUndefined();
  });
});

describe('agrees with docker-compose.yml', () => {
  const haveCompose = onPath('docker-compose');
  let services: Record<string, Record<string, any>> = {};

  beforeAll(async () => {
    if (!haveCompose) return;
    const env: NodeJS.ProcessEnv = { ...process.env, SCOPE_HOSTNAME: 'agree-host' };
    for (const key of ['SCOPE_PLUGINS_ROOT', 'DOCKER_SOCK', 'SCOPE_PLUGINS_LOG_LEVEL']) delete env[key];
    const { stdout } = await runOk('docker-compose', ['-f', join(REPO_ROOT, 'docker-compose.yml'), 'config'], { env });
    services = (parse(stdout) as { services: Record<string, Record<string, any>> }).services;
  });

  beforeEach((ctx) => requireComponent(ctx, 'docker-compose', haveCompose, 'run scripts/provision.sh (installs docker-compose)'));

  it.each(PLUGIN_IDS)('%s: same capabilities', (id) => {
    // compose's volume-count holds SETUID/SETGID only to join the socket's group and drop to uid 1000
    // at start (then it has none); in Kubernetes it runs as uid 0 without capabilities instead.
    const atStartOnly = id === 'volume-count' ? ['SETGID', 'SETUID'] : [];
    expect([...(services[id]!['cap_add'] ?? [])].filter((c: string) => atStartOnly.includes(c)).sort()).toEqual(atStartOnly);
    expect([...(containers.get(id)!.securityContext?.capabilities?.add ?? [])].sort()).toEqual([...(services[id]!['cap_add'] ?? [])].filter((c: string) => !atStartOnly.includes(c)).sort());
    expect(services[id]!['cap_drop']).toEqual(['ALL']);
  });

  it.each(PLUGIN_IDS)('%s: same mounts (host path, container path, read-only), the runtime socket being Docker\'s in compose and containerd\'s in Kubernetes', (id) => {
    expect(runtimeNeutral(k8sMounts(containers.get(id)!))).toEqual(runtimeNeutral(composeMounts(services[id]!)));
  });

  it.each(PLUGIN_IDS)('%s: same environment besides SCOPE_HOSTNAME and the runtime\'s address', (id) => {
    const k8sEnv = Object.fromEntries((containers.get(id)!.env ?? []).filter((e) => e.name !== 'SCOPE_HOSTNAME' && !RUNTIME_ENV.includes(e.name)).map((e) => [e.name, e.value]));
    const composeEnv = Object.fromEntries(Object.entries(services[id]!['environment'] as Record<string, string>).filter(([k]) => k !== 'SCOPE_HOSTNAME' && !RUNTIME_ENV.includes(k)));
    expect(k8sEnv).toEqual(composeEnv);
    // Where compose names Docker, the DaemonSet names containerd's CRI endpoint, and the other way round.
    const names = (c: Container) => (c.env ?? []).map((e) => e.name).filter((n) => RUNTIME_ENV.includes(n)).sort();
    expect(names(containers.get(id)!).length > 0, id).toBe('DOCKER_HOST' in (services[id]!['environment'] as Record<string, string>));
  });

  it('host pid exactly when a plugin needs it (compose pid: host)', () => {
    const needHostPid = PLUGIN_IDS.filter((id) => services[id]!['pid'] === 'host').sort();
    expect(needHostPid).toEqual(['host-namespaces', 'http-stats']);
    expect(pod.hostPID).toBe(needHostPid.length > 0);
  });

  it.each(PLUGIN_IDS)('%s: root only where compose runs it as root (volume-count: root without any capability, see the manifest)', (id) => {
    const composeRoot = String(services[id]!['user']).split(':')[0] === '0';
    const k8sUser = containers.get(id)!.securityContext?.runAsUser;
    expect(k8sUser, id).toBeDefined();
    expect(services[id]!['read_only']).toBe(true);
    if (composeRoot) expect(k8sUser).toBe(0);
    else if (k8sUser === 0) {
      // Kubernetes cannot add the node's docker group to one container only: root uid, owner of the socket, no capability.
      expect(id).toBe('volume-count');
      expect(containers.get(id)!.securityContext?.capabilities?.add).toBeUndefined();
    } else {
      expect(`${k8sUser}:${containers.get(id)!.securityContext?.runAsGroup}`).toBe(services[id]!['user']);
      expect(containers.get(id)!.securityContext?.runAsNonRoot).toBe(true);
    }
  });

  it('makes the plugins root the same way (same script for the non-root ids both create)', () => {
    // (`docker-compose config` prints the file's `$$` escapes as they are.)
    // Minus the host id file, which only compose needs (Kubernetes sets SCOPE_HOSTNAME from spec.nodeName).
    const composeScript = (services['plugins-root']!['command'] as string[]).join('\n').replaceAll('$$', '$').split('// compose only')[0]!;
    const k8sScript = (pod.initContainers![0]!.args ?? []).join('\n');
    const normalize = (s: string) => s.replace(/for \(const id of \[[^\]]*\]\)/, 'for (const id of IDS)').trim();
    expect(normalize(k8sScript)).toBe(normalize(composeScript));
    expect([...(pod.initContainers![0]!.securityContext?.capabilities?.add ?? [])].sort()).toEqual([...services['plugins-root']!['cap_add']].sort());
  });
});
