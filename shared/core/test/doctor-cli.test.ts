import { spawn } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const DOCTOR = new URL('../dist/doctor/cli.js', import.meta.url).pathname;
const CASES = new URL('./fixtures/scope-decode-cases/', import.meta.url).pathname;

function run(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [DOCTOR, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('scope-plugin-doctor bin', () => {
  let root: string;
  const servers: Server[] = [];
  const serve = async (id: string, body: string | ((res: import('node:http').ServerResponse) => void)) => {
    await mkdir(join(root, id), { recursive: true });
    const server = createServer((_req, res) => (typeof body === 'string' ? res.end(body) : body(res)));
    const path = join(root, id, `${id}.sock`);
    await new Promise<void>((resolve) => server.listen(path, resolve));
    servers.push(server);
    return path;
  };

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'sp-doc-'));
    // The example with the probe's host_exec kept in its host control list, as a conforming plugin sends it.
    const example = await readFile(join(CASES, 'report-example-host-metric-table-control.json'), 'utf8');
    const report = JSON.parse(example) as { Host: { nodes: Record<string, { latest: Record<string, { value: string }> }> } };
    report.Host.nodes['h;<host>']!.latest['active_controls']!.value = 'demo-toggle;host_exec';
    await serve('demo', JSON.stringify(report));
  });
  afterAll(async () => {
    await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
    await rm(root, { recursive: true, force: true });
  });

  it('prints what Scope would show and exits 0 for a conforming plugin', async () => {
    const { code, stdout } = await run([join(root, 'demo', 'demo.sock'), '--host-id', 'h']);
    expect(code).toBe(0);
    expect(stdout).toContain('status: ok');
    expect(stdout).toContain('controls: demo~demo-toggle');
    expect(stdout).toContain('tables: demo-cpu');
    expect(stdout).toContain('violations: none');
  });

  it('scans a root like the probe, reports every violation and exits 1', async () => {
    await serve('p', await readFile(join(CASES, 'report-crash-multicolumn-key-without-separator.json'), 'utf8'));
    await serve('slow', (res) => setTimeout(() => res.end('{}'), 800));
    await serve('e', (res) => {
      res.statusCode = 500;
      res.end('boom');
    });
    const { code, stdout } = await run([root, '--host-id', 'h', '--json']);
    expect(code).toBe(1);
    const entries = JSON.parse(stdout) as Array<{ diagnosis: { pluginId: string; status: string; violations: Array<{ kind: string }> } }>;
    expect(entries.map((e) => [e.diagnosis.pluginId, e.diagnosis.status])).toEqual([
      ['demo', 'ok'],
      ['e', 'error: plugin returned non-200 status code: 500 Internal Server Error'],
      ['p', 'ok'],
      ['slow', 'error: context deadline exceeded'],
    ]);
    expect(entries[2]!.diagnosis.violations.map((v) => v.kind)).toContain('crash');
  });

  it('exits 2 with a clear message for a missing path', async () => {
    const { code, stderr } = await run([join(root, 'nope')]);
    expect(code).toBe(2);
    expect(stderr).toMatch(/does not exist/);
  });
});
