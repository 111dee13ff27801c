import { join } from 'node:path';
import { DEPLOY_DIR, REPO_ROOT, onPath, run, runOk } from './run.js';

/** The image the tests build from deploy/Dockerfile. */
export const TEST_IMAGE = process.env['SCOPE_TEST_IMAGE'] ?? 'scope-plugins:test';

/** True when a Docker engine answers through the docker CLI. */
export async function dockerReady(): Promise<boolean> {
  if (!onPath('docker')) return false;
  const result = await run('docker', ['version', '--format', '{{.Server.Version}}'], { timeoutMs: 15_000 });
  return result.code === 0;
}

/**
 * The Node base the image is built FROM. No registry is reachable on our machines, so unless
 * SCOPE_TEST_NODE_BASE names one (e.g. node:20-bookworm-slim where Docker Hub works), a local
 * stand-in is imported from the host's node, npm, busybox and bpftrace.
 */
export async function ensureNodeBase(): Promise<string> {
  const given = process.env['SCOPE_TEST_NODE_BASE'];
  if (given) return given;
  const image = 'scope-plugins-local/node-base:20';
  await runOk('bash', [join(DEPLOY_DIR, 'local-base', 'build-local-base.sh'), image], { timeoutMs: 300_000 });
  return image;
}

/**
 * Builds deploy/Dockerfile (classic builder, repository as context) into {@link TEST_IMAGE}. The
 * build stage installs from the npm registry, so it runs on the host network (our engine has no
 * bridge). Unchanged sources hit Docker's layer cache, so calling this from several files is cheap.
 */
export async function buildSuiteImage(): Promise<{ base: string; output: string }> {
  const base = await ensureNodeBase();
  const result = await runOk(
    'docker',
    ['build', '--network', 'host', '-f', join(DEPLOY_DIR, 'Dockerfile'), '--build-arg', `NODE_BASE=${base}`, '-t', TEST_IMAGE, REPO_ROOT],
    { env: { ...process.env, DOCKER_BUILDKIT: '0' }, timeoutMs: 900_000 },
  );
  return { base, output: result.stdout };
}

/** `docker inspect` of one object, parsed. */
export async function inspect(kind: 'image' | 'container', name: string): Promise<Record<string, any>> {
  const { stdout } = await runOk('docker', [kind, 'inspect', name]);
  return (JSON.parse(stdout) as Record<string, any>[])[0]!;
}

export { REPO_ROOT };
