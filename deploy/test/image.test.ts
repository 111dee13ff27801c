/**
 * The suite image: deploy/Dockerfile built with the classic builder from the repository, FROM a
 * Node base given as a build ARG (a local stand-in here: no registry is reachable). Then the image
 * is run as docker-compose.yml runs each plugin: non-root and without capabilities where the
 * plugin allows it, root with exactly one capability where it needs one, never privileged.
 */
import { beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { diagnoseReportBody } from '@scope-plugins/core';
import { requireComponent } from '@scope-plugins/core/testing';
import { TEST_IMAGE, buildSuiteImage, dockerReady, inspect } from './helpers/docker.js';
import { pluginPackages } from './helpers/packages.js';
import { run } from './helpers/run.js';

const HOST_ID = 'image-test-host';
const docker = await dockerReady();
const plugins = [...pluginPackages().keys()].sort();

/** `docker run --rm` of the test image with the hardening every compose service has. */
function runImage(dockerArgs: string[], command: string[], timeoutMs = 90_000) {
  return run('docker', ['run', '--rm', '--network', 'none', '--read-only', '--cap-drop', 'ALL', '--security-opt', 'no-new-privileges:true', '-e', `SCOPE_HOSTNAME=${HOST_ID}`, ...dockerArgs, TEST_IMAGE, ...command], { timeoutMs });
}

function expectAcceptedReport(id: string, stdout: string) {
  const diagnosis = diagnoseReportBody(stdout, { pluginId: id, hostId: HOST_ID });
  expect(diagnosis.status, stdout.slice(0, 2000)).toBe('ok');
  expect(diagnosis.violations.filter((v) => v.kind !== 'note')).toEqual([]);
  expect(Object.keys(diagnosis.topologies).length, 'topologies').toBeGreaterThan(0);
  for (const node of diagnosis.topologies['Host']?.nodes ?? []) expect(node).toBe(`${HOST_ID};<host>`);
}

/** The http-stats tracer state its report shows on the host node (latest key `http_stats_tracer`, e.g. `running (bpftrace pid 42)`). */
function tracerState(stdout: string): string | undefined {
  const report = JSON.parse(stdout) as { Host?: { nodes?: Record<string, { latest?: Record<string, { value: string }> }> } };
  return report.Host?.nodes?.[`${HOST_ID};<host>`]?.latest?.['http_stats_tracer']?.value;
}

describe('suite image', () => {
  beforeEach((ctx) => requireComponent(ctx, 'Docker engine', docker, 'run scripts/provision.sh (starts dockerd)'));

  beforeAll(async () => {
    if (!docker) return;
    await buildSuiteImage();
  }, 900_000);

  it('runs as uid 1000 by default, with the suite as entrypoint and `run` (every plugin) as command', async () => {
    const config = (await inspect('image', TEST_IMAGE))['Config'] as Record<string, unknown>;
    expect(config['User']).toBe('1000:1000');
    expect(config['Entrypoint']).toEqual(['node', '/opt/scope-plugins/dist/cli.js']);
    expect(config['Cmd']).toEqual(['run']);
    expect(config['Env']).toContain('SCOPE_PLUGINS_ROOT=/var/run/scope/plugins');
  });

  it('lists the four plugins', async () => {
    const result = await runImage([], ['list']);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout.split('\n').filter(Boolean).map((line) => line.split('\t')[0]).sort()).toEqual(plugins);
  });

  it('holds the production install only: no dev tools, no sources, the bpftrace program shipped', async () => {
    const script = `
      const fs = require('node:fs');
      const app = '/opt/scope-plugins';
      const store = fs.readdirSync(app + '/node_modules/.pnpm');
      const pkgs = fs.readdirSync(app + '/node_modules/@scope-plugins');
      const sources = pkgs.filter((p) => fs.existsSync(app + '/node_modules/@scope-plugins/' + p + '/src'));
      const bt = fs.existsSync(app + '/node_modules/@scope-plugins/http-stats/bpf/http-stats.bt');
      console.log(JSON.stringify({ store, pkgs: pkgs.sort(), sources, bt }));`;
    const result = await runImage(['--entrypoint', 'node'], ['-e', script]);
    expect(result.code, result.stderr).toBe(0);
    const out = JSON.parse(result.stdout) as { store: string[]; pkgs: string[]; sources: string[]; bt: boolean };
    expect(out.store.filter((name) => /^(typescript|vitest|vite|turbo|esbuild|rollup|@types\+.*)@/.test(name))).toEqual([]);
    expect(out.pkgs).toEqual(['core', ...plugins].sort());
    expect(out.store.filter((name) => name.startsWith('@scope-plugins+docker@'))).toHaveLength(1);
    expect(out.sources).toEqual([]);
    expect(out.bt).toBe(true);
  });

  it('has bpftrace for http-stats', async () => {
    const result = await runImage(['--entrypoint', 'bpftrace'], ['--version']);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/^bpftrace v\d+\.\d+/);
  });

  it('iowait runs non-root without any capability and prints a report Scope accepts', async () => {
    const result = await runImage([], ['run', 'iowait', '--once', '--log-level', 'warn']);
    expect(result.code, result.stderr).toBe(0);
    expectAcceptedReport('iowait', result.stdout);
  });

  it('http-stats attaches with root + CAP_SYS_ADMIN only, host pid and the host tracefs read-only', async () => {
    const result = await runImage(
      ['--user', '0:0', '--pid', 'host', '--cap-add', 'SYS_ADMIN', '-v', '/sys/kernel/tracing:/sys/kernel/tracing:ro'],
      ['run', 'http-stats', '--once', '--log-level', 'info'],
    );
    expect(result.code, result.stderr).toBe(0);
    expectAcceptedReport('http-stats', result.stdout);
    // The tracer attached and stayed up: bpftrace running, as the host node says.
    expect(tracerState(result.stdout), result.stderr).toMatch(/^running \(bpftrace pid \d+\)$/);
    // None of the preflight problems (missing bpftrace, not root, capabilities, tracefs, BTF) came up.
    expect(result.stderr).not.toMatch(/not installed|only runs as root|not in the effective set|has no tracepoints|tracepoints; mount|btf\/vmlinux is missing/i);
  });

  it('http-stats without CAP_SYS_ADMIN still serves a valid report and names the missing capability', async () => {
    const result = await runImage(['--user', '0:0', '-v', '/sys/kernel/tracing:/sys/kernel/tracing:ro'], ['run', 'http-stats', '--once', '--log-level', 'info']);
    expect(result.code, result.stderr).toBe(0);
    expectAcceptedReport('http-stats', result.stdout);
    expect(result.stderr).toMatch(/CAP_SYS_ADMIN/);
    expect(tracerState(result.stdout)).toMatch(/^not running/);
  });
});
