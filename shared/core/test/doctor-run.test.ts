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
import { diagnoseControlResponse, diagnosePoll, diagnoseReportBody, doctorFailed, findPluginSockets, formatDoctor, hasProblems, runDoctor } from '../src/index.js';

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

describe('the doctor\'s verdict when a plugin does not answer with a report', () => {
  const body = reportOf('p');
  const answered = (statusCode: number, text = body) => ({ ok: true as const, statusCode, statusMessage: statusCode === 200 ? 'OK' : 'Internal Server Error', body: text, elapsedMs: 3 });
  const refused = { ok: false as const, error: 'connect ECONNREFUSED /r/p/p.sock', elapsedMs: 1 };

  it('reports a socket Scope cannot load, a refused connection and a non-200 answer with the probe\'s status text', () => {
    const verdicts = [
      diagnosePoll('/r/Bad Id/Bad Id.sock', answered(200)),
      diagnosePoll('/r/p/p.sock', refused),
      diagnosePoll('/r/p/p.sock', answered(500)),
    ];
    expect(verdicts.map((d) => [d.status, d.violations.map((v) => [v.kind, v.message]), d.elapsedMs, hasProblems(d)])).toEqual([
      ['error loading plugin /r/Bad Id/Bad Id.sock: invalid plugin id "Bad Id"', [['registry', 'socket name gives plugin id "Bad Id", which Scope\'s rule rejects']], 3, true],
      ['error: connect ECONNREFUSED /r/p/p.sock', [['registry', 'connect ECONNREFUSED /r/p/p.sock']], 1, true],
      ['error: plugin returned non-200 status code: 500 Internal Server Error', [['registry', 'plugin returned non-200 status code: 500 Internal Server Error']], 3, true],
    ]);
  });

  it('judges an answered report for the given host: the same host node is fine here, lost for another host', () => {
    const here = diagnosePoll('/r/p/p.sock', answered(200), 'h');
    expect([here.status, here.socketPath, here.elapsedMs, hasProblems(here), here.spec?.['id'], here.topologies['Host']?.nodes]).toEqual(['ok', '/r/p/p.sock', 3, false, 'p', ['h;<host>']]);
    const elsewhere = diagnosePoll('/r/p/p.sock', answered(200), 'other');
    expect(elsewhere.status).toBe('ok');
    expect(hasProblems(elsewhere)).toBe(true);
    expect(elsewhere.violations.filter((v) => v.kind === 'lost').map((v) => v.message)).toEqual(['host node "h;<host>" is not this host ("other", from $SCOPE_HOSTNAME or the hostname): it stays invisible']);
  });

  it('says the bytes after the JSON value are ignored, as a note that is no problem', () => {
    const d = diagnoseReportBody(`${body}  trailing`, { pluginId: 'p', hostId: 'h' });
    expect(d.violations).toEqual([{ kind: 'note', path: [], message: '8 bytes after the JSON value are ignored' }]);
    expect(hasProblems(d)).toBe(false);
    const broken = diagnoseReportBody('{"Plugins": [', { pluginId: 'p' });
    expect(broken.status).toMatch(/^error: decoding error: /);
    expect(broken.violations.map((v) => v.kind)).toEqual(['decode']);
    expect(hasProblems(broken)).toBe(true);
  });

  it('judges control answers: refused, non-200, not JSON, not an object, an error, a shortcut', () => {
    const options = { pluginId: 'p', hostId: 'h' };
    const outcomes = [refused, answered(500, ''), answered(200, 'nope'), answered(200, '[1]'), answered(200, '{"error":"busy"}'), answered(200, JSON.stringify({ shortcutReport: JSON.parse(body) }))].map((poll) => {
      const result = diagnoseControlResponse(poll, options);
      return [result.outcome, result.violations.map((v) => v.kind)];
    });
    expect(outcomes).toEqual([
      ['error: connect ECONNREFUSED /r/p/p.sock', ['registry']],
      ['error: plugin returned non-200 status code: 500 Internal Server Error', ['registry']],
      ['error: decoding error', ['decode']],
      ['error: decoding error', ['decode']],
      ['error (UI gets 400): busy', []],
      ['ok, with shortcut report', []],
    ]);
  });
});

describe('requestPlugin and a gzip answer', () => {
  it('decodes a gzip body as the probe does', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'doctor-gz-'));
    const socket = join(dir, 'gz.sock');
    const { gzipSync } = await import('node:zlib');
    const body = reportOf('gz');
    const server = createServer((_req, res) => {
      res.writeHead(200, { 'Content-Encoding': 'gzip', 'Content-Type': 'application/json' });
      res.end(gzipSync(body));
    });
    await new Promise<void>((resolve) => server.listen(socket, resolve));
    try {
      const { requestPlugin } = await import('../src/index.js');
      const result = await requestPlugin(socket, { path: '/report' });
      expect(result).toMatchObject({ ok: true, statusCode: 200, body });
    } finally {
      await new Promise((resolve) => server.close(resolve));
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('is not why a plugin process loads zlib: importing core (built) leaves it out', async () => {
    const { execFile } = await import('node:child_process');
    const index = new URL('../dist/index.js', import.meta.url).href;
    const script = `await import(${JSON.stringify(index)}); console.log(JSON.stringify(process.moduleLoadList.filter((m) => /^NativeModule (zlib|https|tls)$/.test(m))));`;
    const loaded = await new Promise<string>((resolve, reject) =>
      execFile(process.execPath, ['--input-type=module', '-e', script], (error, stdout) => (error ? reject(error) : resolve(stdout))),
    );
    expect(JSON.parse(loaded)).toEqual([]);
  });
});
