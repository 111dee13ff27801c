/**
 * Least privilege, driven by the README's privileges table (the promise made to operators): for every
 * plugin, docker-compose.yml and the Kubernetes DaemonSet grant exactly the capabilities the table lists
 * (plus, in compose, the start-only ones its user column names), nothing runs privileged or may gain
 * privileges, every capability set starts from nothing, and every host mount is read-only except the
 * plugins root (where the sockets are made). The docker.sock, tracefs, host pid and "other" columns
 * decide which mounts and namespaces a plugin may have at all. Other helpers edit these files: the table
 * is the single source, so a change to one without the other fails here.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse, parseAllDocuments } from 'yaml';
import { describe, expect, it } from 'vitest';
import type { Container, PodSpec } from 'kubernetes-types/core/v1.js';
import { DEPLOY_DIR, REPO_ROOT } from './helpers/run.js';

const PLUGINS_ROOT = '/var/run/scope/plugins';
const CAPABILITY = /\b(?:CHOWN|FOWNER|SETUID|SETGID|BPF|PERFMON|SYS_[A-Z]+|NET_[A-Z]+|DAC_[A-Z_]+|KILL|MKNOD|AUDIT_[A-Z]+|IPC_[A-Z]+)\b/g;

/** One row of the README's privileges table. */
interface PrivilegeRow {
  plugin: string;
  /** Capabilities the plugin runs with (the text outside parentheses: alternatives in them are not granted). */
  capabilities: string[];
  /** Capabilities the user column names as held at start only (compose's volume-count entrypoint). */
  startOnly: string[];
  hostPid: boolean;
  dockerSock: boolean;
  tracefs: boolean;
  /** Host paths the "other" column says are mounted read-only. */
  readOnlyPaths: string[];
}

function parsePrivilegeTable(markdown: string): PrivilegeRow[] {
  const lines = markdown.split('\n');
  const start = lines.findIndex((l) => /^\| plugin \| user \| capabilities \| host pid \| docker\.sock \| tracefs \| other \| why \|$/.test(l.trim()));
  if (start < 0) throw new Error('README has no privileges table (| plugin | user | capabilities | host pid | docker.sock | tracefs | other | why |)');
  const rows: PrivilegeRow[] = [];
  for (const line of lines.slice(start + 2)) {
    if (!line.startsWith('|')) break;
    const cells = line.split('|').slice(1, -1).map((c) => c.trim());
    const [plugin, user, capabilities, hostPid, dockerSock, tracefs, other] = cells as [string, string, string, string, string, string, string];
    const outsideParentheses = capabilities.replace(/\([^)]*\)/g, '');
    rows.push({
      plugin,
      capabilities: [...new Set(outsideParentheses.match(CAPABILITY) ?? [])].sort(),
      startOnly: [...new Set(user.match(CAPABILITY) ?? [])].sort(),
      hostPid: hostPid.startsWith('yes'),
      dockerSock: dockerSock.startsWith('yes'),
      tracefs: tracefs.startsWith('yes'),
      readOnlyPaths: [...other.matchAll(/`(\/[^`]+)`[^`|]*?read-only/g)].map((m) => m[1]!),
    });
  }
  return rows;
}

/** A compose volume `host:target[:mode]` with the ${VAR:-default} of the file resolved to its default. */
function composeVolume(spec: string): { host: string; target: string; readOnly: boolean } {
  const resolved = spec.replace(/\$\{[A-Z_]+:-([^}]*)\}/g, '$1');
  const [host, target, mode] = resolved.split(':') as [string, string, string | undefined];
  return { host, target, readOnly: mode === 'ro' };
}

/** Every way a compose file and a DaemonSet can break the table; [] when they keep it. */
function leastPrivilegeProblems(rows: PrivilegeRow[], compose: Record<string, any>, pod: PodSpec): string[] {
  const problems: string[] = [];
  const services: Record<string, Record<string, any>> = compose['services'];
  const containers = new Map(pod.containers.map((c) => [c.name, c]));
  const volumes = new Map((pod.volumes ?? []).map((v) => [v.name, v]));
  for (const [name, service] of Object.entries(services)) if (service['privileged'] !== undefined) problems.push(`compose ${name}: privileged is set`);
  for (const c of [...pod.containers, ...(pod.initContainers ?? [])]) {
    if (c.securityContext?.privileged !== undefined) problems.push(`DaemonSet ${c.name}: privileged is set`);
  }
  for (const row of rows) {
    const id = row.plugin;
    const service = services[id];
    const container = containers.get(id) as Container | undefined;
    if (!service) problems.push(`compose: no service ${id}`);
    if (!container) problems.push(`DaemonSet: no container ${id}`);
    if (!service || !container) continue;
    // Capabilities: from nothing, then exactly the table's.
    const composeCaps = [...(service['cap_add'] ?? [])].sort();
    const wantCompose = [...new Set([...row.capabilities, ...row.startOnly])].sort();
    if (JSON.stringify(service['cap_drop']) !== JSON.stringify(['ALL'])) problems.push(`compose ${id}: cap_drop is ${JSON.stringify(service['cap_drop'])}, not [ALL]`);
    if (JSON.stringify(composeCaps) !== JSON.stringify(wantCompose)) problems.push(`compose ${id}: cap_add ${JSON.stringify(composeCaps)}, README table: ${JSON.stringify(wantCompose)}`);
    if (!(service['security_opt'] ?? []).includes('no-new-privileges:true')) problems.push(`compose ${id}: no-new-privileges missing`);
    if (service['read_only'] !== true) problems.push(`compose ${id}: root filesystem writable`);
    const k8sCaps = [...(container.securityContext?.capabilities?.add ?? [])].sort();
    if (JSON.stringify(container.securityContext?.capabilities?.drop) !== JSON.stringify(['ALL'])) problems.push(`DaemonSet ${id}: capabilities.drop is not [ALL]`);
    if (JSON.stringify(k8sCaps) !== JSON.stringify(row.capabilities)) problems.push(`DaemonSet ${id}: capabilities.add ${JSON.stringify(k8sCaps)}, README table: ${JSON.stringify(row.capabilities)}`);
    if (container.securityContext?.allowPrivilegeEscalation !== false) problems.push(`DaemonSet ${id}: allowPrivilegeEscalation is not false`);
    if (container.securityContext?.readOnlyRootFilesystem !== true) problems.push(`DaemonSet ${id}: root filesystem writable`);
    // Host pid namespace: only where the table says so (pod-level in Kubernetes, so compose is the per-plugin check).
    if ((service['pid'] === 'host') !== row.hostPid) problems.push(`compose ${id}: pid ${service['pid'] ?? 'own'}, README table: host pid ${row.hostPid ? 'yes' : 'no'}`);
    if (row.hostPid && pod.hostPID !== true) problems.push(`DaemonSet: ${id} needs hostPID`);
    // Mounts: read-only except the plugins root; the socket/tracefs only where the table has them.
    const composeMounts = ((service['volumes'] ?? []) as string[]).map(composeVolume);
    const k8sMounts = (container.volumeMounts ?? []).map((m) => ({ host: volumes.get(m.name)?.hostPath?.path ?? `<${m.name}>`, target: m.mountPath, readOnly: m.readOnly === true }));
    for (const [where, mounts] of [
      ['compose', composeMounts],
      ['DaemonSet', k8sMounts],
    ] as const) {
      for (const m of mounts) {
        if (m.target !== PLUGINS_ROOT && !m.readOnly) problems.push(`${where} ${id}: ${m.host} -> ${m.target} is writable`);
        if (m.target === PLUGINS_ROOT && m.host !== PLUGINS_ROOT) problems.push(`${where} ${id}: the plugins root comes from ${m.host}`);
      }
      if (!mounts.some((m) => m.target === PLUGINS_ROOT)) problems.push(`${where} ${id}: the plugins root is not mounted`);
      const tracefs = mounts.some((m) => m.host.startsWith('/sys/kernel/tracing') || m.host.startsWith('/sys/kernel/debug'));
      if (tracefs !== row.tracefs) problems.push(`${where} ${id}: tracefs ${tracefs ? 'mounted' : 'not mounted'}, README table: ${row.tracefs ? 'yes' : 'no'}`);
      for (const path of row.readOnlyPaths) {
        if (!mounts.some((m) => m.host === path && m.readOnly)) problems.push(`${where} ${id}: ${path} is not mounted read-only as the README table says`);
      }
    }
    // The container runtime socket: docker.sock in compose (the DaemonSet uses the node's CRI socket instead).
    const sock = composeMounts.some((m) => m.host.endsWith('docker.sock'));
    if (sock !== row.dockerSock) problems.push(`compose ${id}: docker.sock ${sock ? 'mounted' : 'not mounted'}, README table: ${row.dockerSock ? 'yes' : 'no'}`);
  }
  const unlisted = pod.containers.map((c) => c.name).filter((name) => !rows.some((r) => r.plugin === name));
  for (const name of unlisted) problems.push(`DaemonSet ${name}: not in the README privileges table`);
  return problems;
}

const readme = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8');
const rows = parsePrivilegeTable(readme);
const compose = parse(readFileSync(join(REPO_ROOT, 'docker-compose.yml'), 'utf8'), { merge: true }) as Record<string, any>;
const daemonSet = parseAllDocuments(readFileSync(join(DEPLOY_DIR, 'kubernetes', 'scope-plugins.yaml'), 'utf8'))
  .map((d) => d.toJS() as Record<string, any>)
  .find((o) => o['kind'] === 'DaemonSet')!;
const pod = daemonSet['spec']['template']['spec'] as PodSpec;

describe('least privilege, as the README table promises', () => {
  it('the table lists every plugin with what it needs', () => {
    expect(rows.map((r) => r.plugin).sort()).toEqual(['host-namespaces', 'http-stats', 'iowait', 'volume-count']);
    expect(Object.fromEntries(rows.map((r) => [r.plugin, r.capabilities]))).toEqual({ iowait: [], 'volume-count': [], 'host-namespaces': ['SYS_PTRACE'], 'http-stats': ['SYS_ADMIN'] });
  });

  it('docker-compose.yml and the DaemonSet keep it: exact capabilities, nothing privileged, read-only mounts but the plugins root', () => {
    expect(leastPrivilegeProblems(rows, compose, pod)).toEqual([]);
  });

  it('the check catches each way to break it', () => {
    const broken = (mutate: (c: Record<string, any>, p: any) => void) => {
      const c = structuredClone(compose);
      const p = structuredClone(pod) as any;
      mutate(c, p);
      return leastPrivilegeProblems(rows, c, p).join('\n');
    };
    expect(broken((c) => (c['services']['iowait']['privileged'] = true))).toMatch(/compose iowait: privileged is set/);
    expect(broken((_, p) => (p.containers.find((x: Container) => x.name === 'http-stats').securityContext.privileged = true))).toMatch(/DaemonSet http-stats: privileged is set/);
    expect(broken((c) => c['services']['host-namespaces']['cap_add'].push('NET_ADMIN'))).toMatch(/compose host-namespaces: cap_add \["NET_ADMIN","SYS_PTRACE"\]/);
    expect(broken((_, p) => (p.containers.find((x: Container) => x.name === 'iowait').securityContext.capabilities.add = ['SYS_ADMIN']))).toMatch(/DaemonSet iowait: capabilities.add \["SYS_ADMIN"\]/);
    expect(broken((c) => (c['services']['http-stats']['volumes'] = c['services']['http-stats']['volumes'].map((v: string) => v.replace(':/sys/kernel/tracing:ro', ':/sys/kernel/tracing')))))
      .toMatch(/compose http-stats: \/sys\/kernel\/tracing -> \/sys\/kernel\/tracing is writable/);
    expect(broken((c) => c['services']['iowait']['volumes'].push('/var/run/docker.sock:/var/run/docker.sock:ro'))).toMatch(/compose iowait: docker.sock mounted, README table: no/);
    expect(broken((c) => (c['services']['iowait']['pid'] = 'host'))).toMatch(/compose iowait: pid host, README table: host pid no/);
    expect(broken((_, p) => (p.containers.find((x: Container) => x.name === 'host-namespaces').volumeMounts.find((m: any) => m.mountPath === '/host/etc/passwd').readOnly = false)))
      .toMatch(/DaemonSet host-namespaces: \/etc\/passwd -> \/host\/etc\/passwd is writable/);
    expect(broken((c) => delete c['services']['volume-count']['cap_drop'])).toMatch(/compose volume-count: cap_drop/);
  });
});
