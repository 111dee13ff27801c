/**
 * docker-compose.yml: accepted by `docker-compose config` (1.29, the one we have), shaped as the
 * issue asks (Scope app + probe as `scope launch` runs them in the `scope` profile, the same host
 * id everywhere, the plugins root made before anything starts, no `privileged`), needing no
 * variable at all, and really run from an empty environment (`env -i PATH=...`): `up` builds the
 * missing image on an engine without a bridge, every socket answers the doctor with this host's
 * hostname as host id, volume-count finds the socket's group itself, and `down` leaves no socket.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { get as httpGet } from 'node:http';
import { get as httpsGet } from 'node:https';
import { chmod, mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { parse, parseAllDocuments } from 'yaml';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { hasProblems, pollReport, runDoctor, type DoctorEntry } from '@scope-plugins/core';
import { requireComponent } from '@scope-plugins/core/testing';
import { buildSuiteImage, dockerReady, inspect } from './helpers/docker.js';
import { pluginPackages } from './helpers/packages.js';
import { REPO_ROOT, onPath, run, runOk, waitFor } from './helpers/run.js';

/** What Scope (host network: Docker names the container after the host) and, through .host-id, every plugin use. */
const HOST_ID = hostname();
const PLUGIN_IDS = [...pluginPackages().keys()].sort();
const docker = (await dockerReady()) && onPath('docker-compose');
const dockerGid = docker ? (await stat('/var/run/docker.sock')).gid : 0;

type Service = Record<string, any>;

/** A tiny HTTP server on a free loopback port (HTTPS with system OpenSSL when given cert and key); prints its port. */
const PY_SERVER = `
import http.server, ssl, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200); self.send_header('Content-Length', '2'); self.end_headers(); self.wfile.write(b'ok')
    def log_message(self, *args): pass
s = http.server.HTTPServer(('127.0.0.1', 0), H)
if len(sys.argv) > 2:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER); ctx.load_cert_chain(sys.argv[1], sys.argv[2])
    s.socket = ctx.wrap_socket(s.socket, server_side=True)
print(s.server_address[1], flush=True)
s.serve_forever()
`;

/** Environment for docker-compose: empty but for PATH (as `env -i PATH=$PATH`), plus `extra`. */
function composeEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return { PATH: process.env['PATH'] ?? '/usr/bin:/bin', ...extra };
}

function compose(args: string[], env: NodeJS.ProcessEnv, timeoutMs = 120_000) {
  return run('docker-compose', ['-f', join(REPO_ROOT, 'docker-compose.yml'), ...args], { cwd: REPO_ROOT, env, timeoutMs });
}

/** `docker-compose config` resolved and parsed. */
async function resolvedConfig(args: string[] = [], env = composeEnv()): Promise<{ services: Record<string, Service> }> {
  const result = await compose([...args, 'config'], env);
  if (result.code !== 0) throw new Error(`docker-compose config failed:\n${result.stderr}`);
  return parse(result.stdout) as { services: Record<string, Service> };
}

/** Every UNIX socket under `dir`, recursively. */
async function socketsUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isSocket()) out.push(join(entry.parentPath, entry.name));
  }
  return out.sort();
}

describe('docker-compose.yml', () => {
  beforeEach((ctx) => requireComponent(ctx, 'Docker engine and docker-compose', docker, 'run scripts/provision.sh (installs docker-compose, starts dockerd)'));

  describe('configuration', () => {
    it('is accepted by docker-compose config with an empty environment, with and without the scope profile', async () => {
      const plain = await compose(['config', '-q'], composeEnv());
      expect(plain.code, plain.stderr).toBe(0);
      const scope = await compose(['--profile', 'scope', 'config', '-q'], composeEnv());
      expect(scope.code, scope.stderr).toBe(0);
      // No warning about an unset variable either: nothing has to be exported.
      expect(`${plain.stderr}${scope.stderr}`).not.toMatch(/variable is not set/i);
    });

    it('needs no variable: the default image is built from deploy/Dockerfile on the host network, the host id left to each service', async () => {
      const { services } = await resolvedConfig(['--profile', 'scope']);
      expect(services['plugins-root']!['build']).toEqual({
        context: REPO_ROOT,
        dockerfile: 'deploy/Dockerfile',
        network: 'host',
        args: { NODE_BASE: 'node:20-bookworm-slim' },
      });
      for (const name of ['plugins-root', 'scope', ...PLUGIN_IDS]) {
        // Empty: Scope falls back to its hostname (the host's, on the host network), the plugins to .host-id.
        expect(services[name]!['environment']['SCOPE_HOSTNAME'], name).toBe('');
        if (name !== 'scope') expect(services[name]!['image'], name).toBe('scope-plugins:0.1.0');
      }
      // plugins-root learns the hostname where Scope does: on the host network.
      expect(services['plugins-root']!['network_mode']).toBe('host');
      expect(services['scope']!['network_mode']).toBe('host');
    });

    it('runs Scope as `scope launch` does (host network and pid, docker.sock, the plugins root), with capabilities instead of privileged', async () => {
      const { services } = await resolvedConfig(['--profile', 'scope']);
      const scope = services['scope']!;
      // Only with `--profile scope` (its image cannot be pulled everywhere; `up` without it starts the plugins only).
      expect(scope).toMatchObject({ image: 'weaveworks/scope:1.13.2', network_mode: 'host', pid: 'host', profiles: ['scope'], command: ['--probe.docker=true', '--weave=false'] });
      expect(scope['volumes']).toEqual(
        expect.arrayContaining(['/var/run/docker.sock:/var/run/docker.sock:rw', '/var/run/scope/plugins:/var/run/scope/plugins:rw']),
      );
      expect(scope['cap_add']).toEqual(expect.arrayContaining(['SYS_ADMIN', 'SYS_PTRACE', 'NET_ADMIN']));
      for (const [name, service] of Object.entries(services)) expect(service['privileged'], name).toBeUndefined();
    });

    it('makes the plugins root before Scope or any plugin starts', async () => {
      const { services } = await resolvedConfig(['--profile', 'scope']);
      expect(services['plugins-root']!['restart']).toBe('no');
      expect(services['plugins-root']!['volumes']).toEqual(['/var/run/scope/plugins:/var/run/scope/plugins:rw']);
      for (const name of ['scope', ...PLUGIN_IDS]) {
        expect(services[name]!['depends_on'], name).toEqual({ 'plugins-root': { condition: 'service_completed_successfully' } });
      }
    });

    it('gives Scope and every plugin the same SCOPE_HOSTNAME (when one is set) and the same plugins root', async () => {
      const { services } = await resolvedConfig(['--profile', 'scope'], composeEnv({ SCOPE_PLUGINS_ROOT: '/srv/plugins', SCOPE_HOSTNAME: 'other-host-id' }));
      for (const name of ['plugins-root', 'scope', ...PLUGIN_IDS]) {
        expect(services[name]!['environment']['SCOPE_HOSTNAME'], name).toBe('other-host-id');
        expect(services[name]!['volumes'], name).toContain('/srv/plugins:/var/run/scope/plugins:rw');
      }
    });

    it('shares docker.sock read-only with the plugins that read Docker, and hardens every plugin service', async () => {
      const { services } = await resolvedConfig();
      for (const id of PLUGIN_IDS) {
        const service = services[id]!;
        expect(service, id).toMatchObject({ network_mode: 'none', read_only: true, cap_drop: ['ALL'], security_opt: ['no-new-privileges:true'], image: 'scope-plugins:0.1.0' });
        const dockerMounts = (service['volumes'] as string[]).filter((v) => v.includes('docker.sock'));
        expect(dockerMounts, id).toEqual(id === 'volume-count' || id === 'host-namespaces' ? ['/var/run/docker.sock:/var/run/docker.sock:ro'] : []);
      }
      // volume-count starts as root with SETUID/SETGID only, to join the socket's group and drop to uid 1000 (checked running below).
      expect(services['volume-count']).toMatchObject({ user: '0:0', cap_add: ['SETUID', 'SETGID'] });
      expect(services['volume-count']!['group_add']).toBeUndefined();
      expect(services['iowait']).toMatchObject({ user: '1000:1000' });
      expect(services['iowait']!['cap_add']).toBeUndefined();
    });
  });

  describe('up against the real engine', () => {
    const project = `sptest${randomBytes(4).toString('hex')}`;
    // A tag that does not exist yet, so that `up` has to build it (from the layers cached by buildSuiteImage).
    const image = `scope-plugins:compose-${randomBytes(4).toString('hex')}`;
    let root: string;
    let envFile: string;
    const env = composeEnv();
    let entries: DoctorEntry[] = [];
    let containersBefore: string[] = [];
    let upOutput = '';

    /** docker-compose with an empty environment; the project name and the isolation variables come from flags. */
    const projectCompose = (args: string[], timeoutMs = 120_000) =>
      compose(['-p', project, '--env-file', envFile, ...args], env, timeoutMs);

    beforeAll(async () => {
      if (!docker) return;
      const { base } = await buildSuiteImage();
      root = await mkdtemp(join(tmpdir(), 'sp-compose-'));
      // As it would be under /var/run: traversable by the non-root plugins.
      await chmod(root, 0o755);
      // Only what keeps the test apart from the host's real setup (its plugins root, image tag) and
      // the Node base (no registry here); no host id, no group id.
      envFile = join(root, '..', `${project}.env`);
      await writeFile(envFile, `SCOPE_PLUGINS_ROOT=${root}\nSCOPE_PLUGINS_IMAGE=${image}\nNODE_BASE=${base}\n`);
      containersBefore = (await runOk('docker', ['ps', '-a', '-q', '--no-trunc'])).stdout.split('\n').filter(Boolean);
      const up = await projectCompose(['up', '-d'], 900_000);
      upOutput = `${up.stdout}${up.stderr}`;
      if (up.code !== 0) throw new Error(`docker-compose up failed:\n${upOutput.slice(-4000)}`);
    }, 900_000);

    afterAll(async () => {
      if (envFile) await projectCompose(['down', '--remove-orphans', '--timeout', '10']);
      if (envFile) await rm(envFile, { force: true });
      if (docker) await run('docker', ['rmi', image]);
      if (root) await rm(root, { recursive: true, force: true });
    });

    it('`up` built the missing image (host network: this engine has no bridge) and left no build container behind', async () => {
      expect(upOutput).toContain(`Successfully tagged ${image}`);
      const projectContainers = (await runOk('docker', ['ps', '-a', '-q', '--no-trunc', '--filter', `label=com.docker.compose.project=${project}`])).stdout.split('\n').filter(Boolean);
      const now = (await runOk('docker', ['ps', '-a', '-q', '--no-trunc'])).stdout.split('\n').filter(Boolean);
      expect(now.filter((id) => !containersBefore.includes(id) && !projectContainers.includes(id))).toEqual([]);
    });

    it('the host id is the hostname, written once by plugins-root for every plugin', async () => {
      expect(await readFile(join(root, '.host-id'), 'utf8')).toBe(`${HOST_ID}\n`);
    });

    it('every plugin socket answers the doctor with a report Scope accepts', async () => {
      entries = await waitFor(
        'four healthy plugin sockets',
        async () => {
          const found = await runDoctor(root, { hostId: HOST_ID, timeoutMs: 500 }).catch(() => []);
          return found.length === PLUGIN_IDS.length && !found.some((e) => hasProblems(e.diagnosis)) ? found : undefined;
        },
        60_000,
        1000,
      ).catch(async (error: Error) => {
        const logs = await projectCompose(['logs', '--no-color', '--tail', '40']);
        throw new Error(`${error.message}\n${logs.stdout}`);
      });
      expect(entries.map((e) => [e.diagnosis.pluginId, e.diagnosis.status])).toEqual(PLUGIN_IDS.map((id) => [id, 'ok']));
      for (const { diagnosis } of entries) {
        expect(diagnosis.socketPath).toBe(join(root, diagnosis.pluginId, `${diagnosis.pluginId}.sock`));
        for (const node of diagnosis.topologies['Host']?.nodes ?? []) expect(node, diagnosis.pluginId).toBe(`${HOST_ID};<host>`);
      }
      // Real data through the containers: the host plugins report this host's node…
      for (const id of ['iowait', 'host-namespaces']) {
        expect(entries.find((e) => e.diagnosis.pluginId === id)!.diagnosis.topologies['Host']?.nodes, id).toEqual([`${HOST_ID};<host>`]);
      }
      // …and volume-count, non-root through docker.sock, sees the compose containers themselves.
      const running = await runOk('docker', ['ps', '-q', '--no-trunc', '--filter', `label=com.docker.compose.project=${project}`]);
      const ids = running.stdout.split('\n').filter(Boolean);
      expect(ids).toHaveLength(PLUGIN_IDS.length);
      await waitFor('volume-count to list the compose containers', async () => {
        const [entry] = await runDoctor(join(root, 'volume-count', 'volume-count.sock'), { hostId: HOST_ID });
        const nodes = entry!.diagnosis.topologies['Container']?.nodes ?? [];
        return ids.every((id) => nodes.includes(`${id};<container>`)) ? true : undefined;
      }, 20_000, 1000);
    });

    it('the plugins-root service finished first, and each plugin runs with the privileges the file gives it', async () => {
      const ps = await runOk('docker', ['ps', '-a', '--filter', `label=com.docker.compose.project=${project}`, '--format', '{{.Names}}']);
      const names = ps.stdout.split('\n').filter(Boolean);
      const byService = new Map<string, Record<string, any>>();
      for (const name of names) {
        const info = await inspect('container', name);
        byService.set(info['Config']['Labels']['com.docker.compose.service'], info);
      }
      expect([...byService.keys()].sort()).toEqual(['plugins-root', ...PLUGIN_IDS].sort());
      expect(byService.get('plugins-root')!['State']).toMatchObject({ Status: 'exited', ExitCode: 0 });
      for (const id of PLUGIN_IDS) {
        const info = byService.get(id)!;
        expect(info['State']['Status'], id).toBe('running');
        expect(info['HostConfig']['Privileged'], id).toBe(false);
        expect(info['HostConfig']['ReadonlyRootfs'], id).toBe(true);
        expect(info['HostConfig']['CapDrop'], id).toEqual(['ALL']);
      }
      expect(byService.get('http-stats')!['HostConfig']['CapAdd']).toEqual(['SYS_ADMIN']);
      expect(byService.get('host-namespaces')!['HostConfig']['CapAdd']).toEqual(['SYS_PTRACE']);
      expect(byService.get('iowait')!['Config']['User']).toBe('1000:1000');
      // volume-count as it runs (not as it starts): uid 1000, the socket's group found by itself, no capability left.
      const status = await readFile(`/proc/${byService.get('volume-count')!['State']['Pid']}/status`, 'utf8');
      const field = (name: string) => new RegExp(`^${name}:\\s*(.*)$`, 'm').exec(status)?.[1]?.trim().split(/\s+/);
      expect({ uid: field('Uid'), gid: field('Gid'), groups: field('Groups'), capEff: field('CapEff'), capPrm: field('CapPrm') }).toEqual({
        uid: ['1000', '1000', '1000', '1000'],
        gid: ['1000', '1000', '1000', '1000'],
        groups: [String(dockerGid)],
        capEff: ['0000000000000000'],
        capPrm: ['0000000000000000'],
      });
    });

    it("the Kubernetes bundle's liveness probe (the doctor on the container's own socket) passes in each plugin container", async () => {
      const manifest = parseAllDocuments(readFileSync(join(REPO_ROOT, 'deploy', 'kubernetes', 'scope-plugins.yaml'), 'utf8')).map((d) => d.toJS() as Record<string, any>);
      const containers = manifest.find((o) => o['kind'] === 'DaemonSet')!['spec']['template']['spec']['containers'] as { name: string; livenessProbe?: { exec?: { command?: string[] } } }[];
      for (const id of PLUGIN_IDS) {
        const command = containers.find((c) => c.name === id)?.livenessProbe?.exec?.command;
        expect(command, id).toBeDefined();
        const container = (await runOk('docker', ['ps', '-q', '--filter', `label=com.docker.compose.project=${project}`, '--filter', `label=com.docker.compose.service=${id}`])).stdout.trim();
        // As the user the plugin runs as (volume-count drops from root to uid 1000 at start), and with the host id
        // Kubernetes gives the container (SCOPE_HOSTNAME from spec.nodeName).
        const status = await readFile(`/proc/${(await inspect('container', container))['State']['Pid']}/status`, 'utf8');
        const user = `${/^Uid:\s+(\d+)/m.exec(status)![1]}:${/^Gid:\s+(\d+)/m.exec(status)![1]}`;
        const result = await run('docker', ['exec', '-u', user, '-e', `SCOPE_HOSTNAME=${HOST_ID}`, container, ...command!], { timeoutMs: 30_000 });
        expect(result.code, `${id}: ${result.stdout}${result.stderr}`).toBe(0);
        expect(result.stdout, id).toContain('status: ok');
      }
    });

    it('http-stats in its container counts HTTP and HTTPS (host libssl through the /usr/lib mount) served by host processes', async (ctx) => {
      requireComponent(ctx, 'python3 and openssl', onPath('python3') && onPath('openssl'), 'apt-get install python3 openssl');
      const dir = await mkdtemp(join(tmpdir(), 'sp-tls-'));
      const servers: ChildProcess[] = [];
      try {
        await runOk('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'), '-days', '1', '-subj', '/CN=localhost']);
        const start = async (tls: boolean) => {
          const child = spawn('python3', ['-c', PY_SERVER, ...(tls ? [join(dir, 'cert.pem'), join(dir, 'key.pem')] : [])], { stdio: ['ignore', 'pipe', 'inherit'] });
          servers.push(child);
          const port = await new Promise<number>((resolve, reject) => {
            child.stdout!.once('data', (chunk: Buffer) => resolve(Number(String(chunk).trim())));
            child.once('exit', (code) => reject(new Error(`python server exited ${code}`)));
          });
          return { pid: child.pid!, port };
        };
        const plain = await start(false);
        const secure = await start(true);
        const hit = async () => {
          for (let i = 0; i < 10; i++) {
            await new Promise<void>((resolve) => httpGet({ host: '127.0.0.1', port: plain.port, path: '/', timeout: 2000 }, (res) => res.resume().on('end', resolve)).on('error', () => resolve()));
            await new Promise<void>((resolve) => httpsGet({ host: '127.0.0.1', port: secure.port, path: '/', rejectUnauthorized: false, timeout: 2000 }, (res) => res.resume().on('end', resolve)).on('error', () => resolve()));
          }
        };
        const socket = join(root, 'http-stats', 'http-stats.sock');
        const nodes = await waitFor('process nodes of both servers in the http-stats report', async () => {
          await hit();
          const poll = await pollReport(socket, undefined, 2000);
          if (!poll.ok) return undefined;
          const found = Object.keys((JSON.parse(poll.body) as { Process?: { nodes?: Record<string, unknown> } }).Process?.nodes ?? {});
          return found.includes(`${HOST_ID};${plain.pid}`) && found.includes(`${HOST_ID};${secure.pid}`) ? found : undefined;
        }, 45_000, 1000);
        expect(nodes).toEqual(expect.arrayContaining([`${HOST_ID};${plain.pid}`, `${HOST_ID};${secure.pid}`]));
      } finally {
        for (const server of servers) server.kill('SIGKILL');
        await rm(dir, { recursive: true, force: true });
      }
    });

    it('http-stats traces in its container, and no plugin complains about a missing privilege', async () => {
      const logs = await projectCompose(['logs', '--no-color']);
      expect(logs.code).toBe(0);
      expect(logs.stdout).not.toMatch(/not installed|only runs as root|not in the effective set|has no tracepoints|EACCES|permission denied/i);
    });

    it('down stops everything and leaves no socket behind', async () => {
      expect(await socketsUnder(root)).toHaveLength(PLUGIN_IDS.length);
      const down = await projectCompose(['down', '--timeout', '10']);
      expect(down.code, down.stderr).toBe(0);
      const left = await runOk('docker', ['ps', '-a', '-q', '--filter', `label=com.docker.compose.project=${project}`]);
      expect(left.stdout.trim()).toBe('');
      expect(await socketsUnder(root)).toEqual([]);
    });
  });
});
