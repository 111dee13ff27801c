/**
 * runDoctor in process (the CLI tests run the built bin, which a mutant of src/ never reaches): how it
 * finds sockets under a plugins root (as the probe: recursive, through symlinks, sockets only, sorted),
 * fires a control, decides failure, and prints its findings.
 */
import { createServer, type Server } from 'node:http';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { doctorFailed, findPluginSockets, formatDoctor, runDoctor } from '../src/index.js';

const T0 = '2024-01-01T00:00:00Z';

/** A report of plugin `id` with one host node of host "h"; `crash` adds a multicolumn key without ___. */
function reportOf(id: string, crash = false): string {
  const latest: Record<string, unknown> = { [`${id}_a`]: { timestamp: T0, value: '1' } };
  if (crash) latest[`${id}_mc_orphan`] = { timestamp: T0, value: 'x' };
  return JSON.stringify({
    Plugins: [{ id, label: id.toUpperCase(), interfaces: ['reporter', 'controller'], api_version: '1' }],
    Host: {
      nodes: { 'h;<host>': { id: 'h;<host>', topology: 'host', latest } },
      metadata_templates: { [`${id}_a`]: { id: `${id}_a`, label: 'A', from: 'latest' } },
      ...(crash ? { table_templates: { mc: { id: 'mc', label: 'MC', prefix: `${id}_mc_`, type: 'multicolumn-table', columns: [{ id: 'c', label: 'C' }] } } } : {}),
    },
  });
}

describe('runDoctor on a plugins root', () => {
  let root: string;
  let elsewhere: string;
  const servers: Server[] = [];
  const controls: string[] = [];

  const serve = async (socketPath: string, id: string, crash = false) => {
    const server = createServer((req, res) => {
      if (req.method === 'POST') {
        let body = '';
        req.on('data', (chunk: Buffer) => (body += chunk.toString()));
        req.on('end', () => {
          controls.push(`${id} ${body}`);
          res.end('{}');
        });
        return;
      }
      res.end(reportOf(id, crash));
    });
    await new Promise<void>((resolve) => server.listen(socketPath, resolve));
    servers.push(server);
  };

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'sp-doctor-'));
    elsewhere = await mkdtemp(join(tmpdir(), 'sp-doctor-link-'));
    for (const dir of ['b', 'a', 'a/deep/c', 'empty']) await mkdir(join(root, dir), { recursive: true });
    await serve(join(root, 'b', 'b.sock'), 'b', true);
    await serve(join(root, 'a', 'a.sock'), 'a');
    await serve(join(root, 'a', 'deep', 'c', 'c.sock'), 'c');
    await writeFile(join(root, 'a', 'not-a-socket.sock'), 'plain file');
    // The probe follows symlinks: a plugin whose directory is linked into the root is found too.
    await mkdir(join(elsewhere, 'd'));
    await serve(join(elsewhere, 'd', 'd.sock'), 'd');
    await symlink(join(elsewhere, 'd'), join(root, 'd'));
  });

  afterAll(async () => {
    await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
    await rm(root, { recursive: true, force: true });
    await rm(elsewhere, { recursive: true, force: true });
  });

  it('finds every socket under the root, recursively and through symlinks, sorted, and nothing else', async () => {
    expect(await findPluginSockets(root)).toEqual([join(root, 'a', 'a.sock'), join(root, 'a', 'deep', 'c', 'c.sock'), join(root, 'b', 'b.sock'), join(root, 'd', 'd.sock')]);
    expect(await findPluginSockets(join(root, 'empty'))).toEqual([]);
    expect(await findPluginSockets(join(root, 'missing'))).toEqual([]);
  });

  it('diagnoses each socket in that order, and fails when one of them would break Scope', async () => {
    const entries = await runDoctor(root, { hostId: 'h' });
    expect(entries.map((e) => [e.diagnosis.pluginId, e.diagnosis.status, e.diagnosis.violations.filter((v) => v.kind !== 'note').map((v) => v.kind)])).toEqual([
      ['a', 'ok', []],
      ['c', 'ok', []],
      ['b', 'ok', ['crash']],
      ['d', 'ok', []],
    ]);
    expect(doctorFailed(entries)).toBe(true);
    expect(doctorFailed(entries.filter((e) => e.diagnosis.pluginId !== 'b'))).toBe(false);
    expect(doctorFailed([])).toBe(false);
  });

  it('checks one socket given directly, and says what is wrong with a bad target', async () => {
    const [entry, ...rest] = await runDoctor(join(root, 'a', 'a.sock'), { hostId: 'h' });
    expect(rest).toEqual([]);
    expect(entry!.diagnosis).toMatchObject({ pluginId: 'a', status: 'ok', socketPath: join(root, 'a', 'a.sock') });
    await expect(runDoctor(join(root, 'missing'))).rejects.toThrow(`${join(root, 'missing')} does not exist (give a plugin socket or a plugins root directory)`);
    await expect(runDoctor(join(root, 'empty'))).rejects.toThrow(`no plugin sockets under ${join(root, 'empty')}`);
  });

  it('fires a control on every socket with the probe\'s body and judges each answer', async () => {
    controls.length = 0;
    const entries = await runDoctor(join(root, 'a'), { hostId: 'h', control: { control: 'toggle', nodeId: 'h;<host>', args: { k: 'v' } } });
    expect(controls.sort()).toEqual([
      'a {"AppID":"scope-plugins-doctor","Control":"toggle","ControlArgs":{"k":"v"},"NodeID":"h;<host>"}',
      'c {"AppID":"scope-plugins-doctor","Control":"toggle","ControlArgs":{"k":"v"},"NodeID":"h;<host>"}',
    ]);
    expect(entries.map((e) => [e.diagnosis.pluginId, e.control?.outcome])).toEqual([
      ['a', 'ok'],
      ['c', 'ok'],
    ]);
    expect(doctorFailed(entries)).toBe(false);
    const failedControl = [{ ...entries[0]!, control: { outcome: 'ok', violations: [{ kind: 'crash' as const, path: ['x'], message: 'm' }] } }];
    expect(doctorFailed(failedControl)).toBe(true);
    const noteOnly = [{ ...entries[0]!, control: { outcome: 'ok', violations: [{ kind: 'note' as const, path: ['x'], message: 'm' }] } }];
    expect(doctorFailed(noteOnly)).toBe(false);
  });

  it('prints per plugin its socket, status, spec, topologies, control outcome and violations', async () => {
    const entries = await runDoctor(root, { hostId: 'h' });
    const text = formatDoctor([entries[0]!, entries[2]!]).replace(/\[answered in \d+\.\d ms\]/g, '[answered in N ms]');
    expect(text.split('\n')).toEqual([
      `plugin a (${join(root, 'a', 'a.sock')})`,
      '  status: ok   [answered in N ms]',
      '  spec: {"id":"a","label":"A","interfaces":["reporter","controller"],"api_version":"1"}',
      '  Host: 1 node(s): h;<host>',
      '    metadata: a_a',
      '  violations: none',
      `plugin b (${join(root, 'b', 'b.sock')})`,
      '  status: ok   [answered in N ms]',
      '  spec: {"id":"b","label":"B","interfaces":["reporter","controller"],"api_version":"1"}',
      '  Host: 1 node(s): h;<host>',
      '    metadata: b_a',
      '    tables: mc',
      '  violations: 1',
      expect.stringMatching(/^ {4}\[crash\] Host\.nodes\["h;<host>"\]\.latest\.b_mc_orphan: /),
    ]);
    const withControl = formatDoctor([{ ...entries[0]!, control: { outcome: 'ok', violations: [{ kind: 'note', path: ['x'], message: 'just so you know' }] } }]);
    expect(withControl.split('\n').slice(-3)).toEqual(['  control: ok', '  violations: none', '    [note] x: just so you know']);
  });
});
