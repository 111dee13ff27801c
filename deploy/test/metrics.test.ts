/**
 * deploy/prometheus: the compose override and the DaemonSet patch that turn on `--metrics-listen`, and the
 * Prometheus scrape configurations that go with them. Checked with the real tools (docker-compose config,
 * promtool check config) and offline Kubernetes validation (kubernetes-models + field names), and each
 * listen address with the plugins' own parser, so the scrape targets are exactly the ports served.
 */
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse, parseAllDocuments } from 'yaml';
import { beforeEach, describe, expect, it } from 'vitest';
import { DaemonSet } from 'kubernetes-models/apps/v1/DaemonSet';
import type { Container, EnvVar, PodSpec } from 'kubernetes-types/core/v1.js';
import type { DaemonSet as DaemonSetType } from 'kubernetes-types/apps/v1.js';
import { parseListenAddress } from '@scope-plugins/core';
import { requireComponent } from '@scope-plugins/core/testing';
import { unknownFieldProblems } from './helpers/k8s-fields.js';
import { pluginPackages } from './helpers/packages.js';
import { DEPLOY_DIR, REPO_ROOT, onPath, run } from './helpers/run.js';

const DIR = join(DEPLOY_DIR, 'prometheus');
const PLUGIN_IDS = [...pluginPackages().keys()].sort();
const ENV = 'SCOPE_PLUGINS_METRICS_LISTEN';
const haveCompose = onPath('docker-compose');
const havePromtool = onPath('promtool');

interface Service {
  network_mode?: string;
  environment?: Record<string, string>;
}

async function composeConfig(files: string[]): Promise<Record<string, Service>> {
  const env = { ...process.env, SCOPE_HOSTNAME: 'h', DOCKER_GID: '1' };
  const result = await run('docker-compose', [...files.flatMap((f) => ['-f', f]), '--profile', 'prometheus', 'config'], { cwd: REPO_ROOT, env, timeoutMs: 60_000 });
  if (result.code !== 0) throw new Error(`docker-compose config failed:\n${result.stderr}`);
  return (parse(result.stdout) as { services: Record<string, Service> }).services;
}

async function promtoolCheck(config: unknown): Promise<{ code: number | null; output: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'sp-promtool-'));
  try {
    const file = join(dir, 'prometheus.yml');
    await writeFile(file, typeof config === 'string' ? config : JSON.stringify(config));
    const result = await run('promtool', ['check', 'config', file], { timeoutMs: 60_000 });
    return { code: result.code, output: result.stdout + result.stderr };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

describe('docker-compose override', () => {
  beforeEach((ctx) => requireComponent(ctx, 'docker-compose', haveCompose, 'run scripts/provision.sh (installs docker-compose)'));

  it('gives every plugin service its own loopback port, and only with the override (off by default)', async () => {
    const base = await composeConfig([join(REPO_ROOT, 'docker-compose.yml')]);
    expect(PLUGIN_IDS.map((id) => base[id]?.environment?.[ENV])).toEqual(PLUGIN_IDS.map(() => undefined));
    const merged = await composeConfig([join(REPO_ROOT, 'docker-compose.yml'), join(DIR, 'docker-compose.metrics.yml')]);
    const listens = PLUGIN_IDS.map((id) => parseListenAddress(merged[id]!.environment![ENV]!));
    expect(listens.every((l) => l.loopback && l.host === '127.0.0.1')).toBe(true);
    expect(new Set(listens.map((l) => l.port)).size).toBe(PLUGIN_IDS.length);
    // The rest of each service is the base file's (the override only adds).
    for (const id of PLUGIN_IDS) {
      expect(merged[id]!.network_mode).toBe('host');
      expect(merged[id]!.environment!['SCOPE_HOSTNAME']).toBe('h');
    }
    // The bundled Prometheus scrapes exactly those ports.
    const prometheus = parse(readFileSync(join(DIR, 'prometheus-compose.yml'), 'utf8')) as { scrape_configs: Array<{ static_configs: Array<{ targets: string[] }> }> };
    const targets = prometheus.scrape_configs.flatMap((s) => s.static_configs.flatMap((c) => c.targets)).sort();
    expect(targets).toEqual(listens.map((l) => `127.0.0.1:${l.port}`).sort());
    expect(merged['prometheus']!.network_mode).toBe('host');
  });
});

describe('Prometheus configurations', () => {
  beforeEach((ctx) => requireComponent(ctx, 'promtool', havePromtool, 'apt-get install prometheus (scripts/provision.sh does it)'));

  it('the compose one passes promtool check config', async () => {
    const { code, output } = await promtoolCheck(readFileSync(join(DIR, 'prometheus-compose.yml'), 'utf8'));
    expect([code, output]).toEqual([0, expect.stringContaining('SUCCESS')]);
  });

  it('the Kubernetes one passes promtool check config (pod discovery swapped for a static target: Debian\'s promtool is built without Kubernetes discovery)', async () => {
    const config = parse(readFileSync(join(DIR, 'prometheus-kubernetes.yml'), 'utf8')) as { scrape_configs: Array<Record<string, unknown>> };
    expect(config.scrape_configs[0]!['kubernetes_sd_configs']).toEqual([{ role: 'pod', namespaces: { names: ['weave'] } }]);
    const swapped = { scrape_configs: config.scrape_configs.map(({ kubernetes_sd_configs: _, ...rest }) => ({ ...rest, static_configs: [{ targets: ['127.0.0.1:9470'] }] })) };
    const { code, output } = await promtoolCheck(swapped);
    expect([code, output]).toEqual([0, expect.stringContaining('SUCCESS')]);
  });
});

/** kubectl's strategic merge for the parts the patch uses: containers by name, env by name, ports by containerPort. */
function applyPatch(daemonSet: DaemonSetType, patch: { spec: { template: { spec: { containers: Container[] } } } }): DaemonSetType {
  const out = structuredClone(daemonSet);
  const containers = out.spec!.template.spec!.containers;
  for (const change of patch.spec.template.spec.containers) {
    const container = containers.find((c) => c.name === change.name);
    if (!container) throw new Error(`patch names container ${change.name}, which the DaemonSet does not have`);
    const env = new Map((container.env ?? []).map((e) => [e.name, e]));
    for (const e of change.env ?? []) env.set(e.name, e);
    container.env = [...env.values()];
    const ports = new Map((container.ports ?? []).map((p) => [p.containerPort, p]));
    for (const p of change.ports ?? []) ports.set(p.containerPort, p);
    container.ports = [...ports.values()];
  }
  return out;
}

describe('Kubernetes patch', () => {
  const bundle = parseAllDocuments(readFileSync(join(DEPLOY_DIR, 'kubernetes', 'scope-plugins.yaml'), 'utf8')).map((d) => d.toJS() as Record<string, unknown>);
  const daemonSet = bundle.find((o) => o['kind'] === 'DaemonSet') as unknown as DaemonSetType;
  const patch = parse(readFileSync(join(DIR, 'kubernetes-metrics.patch.yaml'), 'utf8')) as Parameters<typeof applyPatch>[1];
  const patched = applyPatch(daemonSet, patch);
  const pod = patched.spec!.template.spec as PodSpec;

  it('leaves the bundle off by default', () => {
    for (const c of (daemonSet.spec!.template.spec as PodSpec).containers) expect(c.env?.some((e: EnvVar) => e.name === ENV) ?? false, c.name).toBe(false);
  });

  it('patched, is still a valid DaemonSet with only known fields', () => {
    expect(() => new DaemonSet(patched as never).validate()).not.toThrow();
    expect(unknownFieldProblems([patched])).toEqual([]);
  });

  it('every plugin container serves on the port it declares, named so the scrape job keeps it', () => {
    const scrape = parse(readFileSync(join(DIR, 'prometheus-kubernetes.yml'), 'utf8')) as { scrape_configs: Array<{ relabel_configs: Array<{ source_labels: string[]; regex: string; action?: string }> }> };
    const keepPort = scrape.scrape_configs[0]!.relabel_configs.find((r) => r.source_labels.includes('__meta_kubernetes_pod_container_port_name'))!;
    const keepPod = scrape.scrape_configs[0]!.relabel_configs.find((r) => r.source_labels.includes('__meta_kubernetes_pod_label_weave_scope_component'))!;
    expect(patched.spec!.template.metadata!.labels!['weave-scope-component']).toMatch(new RegExp(`^(?:${keepPod.regex})$`));
    const names = new Set<string>();
    const ports = new Set<number>();
    for (const container of pod.containers) {
      const listen = parseListenAddress(container.env!.find((e) => e.name === ENV)!.value!);
      const declared = container.ports!.filter((p) => p.containerPort === listen.port);
      expect([container.name, listen.host, declared.length]).toEqual([container.name, '0.0.0.0', 1]);
      const name = declared[0]!.name!;
      // Anchored like Prometheus' relabel regexes; port names are at most 15 characters and unique in the pod.
      expect(name).toMatch(new RegExp(`^(?:${keepPort.regex})$`));
      expect(name.length).toBeLessThanOrEqual(15);
      names.add(name);
      ports.add(listen.port);
    }
    expect([names.size, ports.size, pod.containers.map((c) => c.name).sort()]).toEqual([PLUGIN_IDS.length, PLUGIN_IDS.length, PLUGIN_IDS]);
  });
});
