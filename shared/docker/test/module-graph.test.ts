import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { requireComponent } from '@scope-plugins/core/testing';
import { isDockerdInstalled, startTestDockerd, type TestDockerd } from '../src/testing/index.js';

// What a process using Docker loads: dockerode, with the requires our patches (patches/, pnpm-workspace.yaml) make
// lazy left out — ssh2 (and its WebAssembly) for ssh:// hosts, the BuildKit session's gRPC stack and the build
// context's tar-fs (tar-stream, bl, ...) and .dockerignore parser for builds, readable-stream for attach/exec, and
// Node's https (with tls and crypto) for https:// hosts.
const haveDocker = isDockerdInstalled();
const packageDir = fileURLToPath(new URL('..', import.meta.url));

describe('module graph of a Docker inventory (real dockerd)', () => {
  let dockerd: TestDockerd;
  beforeEach((ctx) => requireComponent(ctx, 'dockerd', haveDocker, 'run scripts/provision.sh (installs docker.io)'));
  beforeAll(async () => {
    if (haveDocker) dockerd = await startTestDockerd();
  }, 120_000);
  afterAll(async () => {
    await dockerd?.dispose();
  }, 120_000);

  it('talks to Docker through dockerode without loading ssh2, the gRPC/protobuf stack or the build context packer', async () => {
    const script = `
      import { createRequire } from 'node:module';
      import { createLogger } from '@scope-plugins/core';
      import { createDockerInventory } from './dist/index.js';
      const inventory = createDockerInventory({ dockerHost: process.argv[1], log: createLogger({ level: 'silent' }) });
      await inventory.ready();
      const state = inventory.status().state;
      await inventory.close();
      const loaded = Object.keys(createRequire(import.meta.url).cache);
      const builtins = process.moduleLoadList.filter((m) => m.startsWith('NativeModule ')).map((m) => m.slice('NativeModule '.length));
      console.log(JSON.stringify({ state, loaded, builtins }));`;
    const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script, dockerd.dockerHost], { cwd: packageDir });
    const { state, loaded, builtins } = JSON.parse(stdout) as { state: string; loaded: string[]; builtins: string[] };
    expect(state).toBe('up');
    const packages = new Set(loaded.map((path) => /node_modules\/((?:@[^/]+\/)?[^/]+)\/(?!.*node_modules)/.exec(path)?.[1]).filter(Boolean));
    expect(packages.has('dockerode')).toBe(true);
    expect(packages.has('docker-modem')).toBe(true);
    expect([...packages].filter((name) => /^(ssh2|cpu-features|@grpc\/.*|protobufjs|tar-fs|tar-stream|bl|@balena\/dockerignore|readable-stream)$/.test(name!))).toEqual([]);
    expect(builtins).toContain('http');
    expect(builtins.filter((name) => /^(https|tls|crypto)$/.test(name))).toEqual([]);
  }, 60_000);
});
