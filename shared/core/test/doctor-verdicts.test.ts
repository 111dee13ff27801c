import { spawn } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { diagnoseReportBody, guardReport, inspectReport, readProbeNodes, runDoctor, type Report } from '../src/index.js';

// The doctor must be right both ways: no alarm for what Scope shows, an alarm for what Scope loses.
const CASES = new URL('./fixtures/scope-decode-cases/', import.meta.url).pathname;
const DOCTOR = new URL('../dist/doctor/cli.js', import.meta.url).pathname;
const read = (file: string) => readFile(join(CASES, file), 'utf8');
const pluginIdFor = (file: string) => (file.includes('-minimal-') || file.includes('-example-') ? 'demo' : file.endsWith('-partner.json') ? 'q' : 'p');
const problems = (body: string, pluginId: string, hostId = 'h') =>
  diagnoseReportBody(body, { pluginId, hostId }).violations.filter((v) => v.kind !== 'note').map((v) => [v.kind, v.path.join('/')]);

/**
 * Every fixture the real Scope v1.13.2 accepts (status ok), with what the doctor must flag. Each flag
 * is something real Scope loses or breaks on (see the fixtures' README and the protocol notes §6, §7).
 */
const ACCEPTED: Record<string, Array<[string, string]>> = {
  'report-minimal-valid.json': [],
  'report-api-version-string.json': [],
  'report-api-version-number.json': [],
  'report-trailing-garbage.json': [],
  'report-null-topology-fields.json': [],
  'report-crash-topology-mismatch-partner.json': [],
  // Host node without id: it is this host's node (SCOPE_HOSTNAME=h), so it merges and shows.
  'report-unknown-fields.json': [],
  // Same node-id case; its live control "ctl" without host_exec hides the probe's Exec shell on v1.13.2.
  'report-legacy-latestControls-counters.json': [['lost', 'Host/nodes/h;<host>/latestControls']],
  // The control list "demo-toggle" without host_exec: v1.13.2 showed only demo~demo-toggle (protocol §6).
  'report-example-host-metric-table-control.json': [['lost', 'Host/nodes/h;<host>/latest/active_controls']],
  'report-host-field-variants.json': [['lost', 'Host/nodes/h;<host>/latest/d/timestamp']],
  'report-topology-key-lowercase.json': [['lost', 'host']],
  'report-crash-multicolumn-key-without-separator.json': [['crash', 'Host/nodes/h;<host>/latest/p_mc_orphan']],
  'report-crash-topology-mismatch.json': [['unsafe', 'Host/nodes/h;<host>/topology']],
};

describe('doctor verdicts on the accepted conformance fixtures (SCOPE_HOSTNAME=h)', () => {
  for (const [file, expected] of Object.entries(ACCEPTED)) {
    it(`${file}: ${expected.length === 0 ? 'passes' : expected.map((e) => e[0]).join(', ')}`, async () => {
      const body = await read(file);
      expect(diagnoseReportBody(body, { pluginId: pluginIdFor(file), hostId: 'h' }).status).toBe('ok');
      expect(problems(body, pluginIdFor(file))).toEqual(expected);
    });
  }

  it('a host node without id that is not this host is lost, and says why', async () => {
    const body = await read('report-unknown-fields.json');
    const lost = diagnoseReportBody(body, { pluginId: 'p', hostId: 'other' }).violations.filter((v) => v.kind === 'lost');
    expect(lost.map((v) => v.message)).toEqual([
      'node has no id and the probe does not report this node: Scope re-keys it to "" and never shows it',
      'host node "h;<host>" is not this host ("other", from $SCOPE_HOSTNAME or the hostname): it stays invisible',
    ]);
  });

  it('the host_exec finding carries the fix, and the guard applies it instead of dropping the controls', async () => {
    const report = JSON.parse(await read('report-legacy-latestControls-counters.json')) as Report;
    const [finding] = inspectReport(report, { pluginId: 'p', hostId: 'h' }).filter((v) => v.kind === 'lost');
    expect(finding!.message).toBe(
      'this host node\'s control list ("ctl") replaces the probe\'s in Scope v1.13.2 and hides its "Exec shell" button (host_exec); fix: list it too: host_exec: {"dead": false} in latestControls',
    );
    const { report: guarded } = guardReport(report, { pluginId: 'p', hostId: 'h' });
    expect(guarded.Host!.nodes!['h;<host>']!.latestControls).toEqual({
      ctl: { timestamp: '2024-01-01T00:00:00Z', value: { dead: false } },
      dead1: { timestamp: '2024-01-01T00:00:00Z', value: { dead: true } },
      host_exec: { timestamp: '2024-01-01T00:00:00Z', value: { dead: false } },
    });
    expect(inspectReport(guarded, { pluginId: 'p', hostId: 'h' }).filter((v) => v.kind !== 'note')).toEqual([]);

    const example = JSON.parse(await read('report-example-host-metric-table-control.json')) as Report;
    const fixed = guardReport(example, { pluginId: 'demo', hostId: 'h' }).report;
    expect(fixed.Host!.nodes!['h;<host>']!.latest!['active_controls']!.value).toBe('demo-toggle;host_exec');
  });

  it('process and container nodes without id: fine where the probe reports them (live in /proc), lost elsewhere', async () => {
    const probeReports = await readProbeNodes('h');
    const spec = { Plugins: [{ id: 'p', label: 'P', interfaces: ['reporter'], api_version: '1' }] };
    const live = `h;${process.pid}`;
    const gone = 'h;999999999';
    const body = JSON.stringify({ ...spec, Process: { nodes: { [live]: { latest: {} }, [gone]: { latest: {} } } } });
    const found = diagnoseReportBody(body, { pluginId: 'p', hostId: 'h', probeReports }).violations.filter((v) => v.path.length === 3);
    expect(found.map((v) => [v.kind, v.path[2]])).toEqual([
      ['note', live],
      ['lost', gone],
    ]);
  });
});

function runDoctorBin(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number | null; stdout: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [DOCTOR, ...args], { stdio: ['ignore', 'pipe', 'inherit'], env });
    let stdout = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.on('close', (code) => resolve({ code, stdout }));
  });
}

/**
 * What weaveworks-plugins/scope-iowait (Go) served (protocol notes §10): spec `iowait`, a Host node
 * keyed by os.Hostname() without `id` or `topology`, the metric and its template, both controls, and
 * `latestControls` with the one live control; no `active_controls`, no host_exec.
 */
function goIowaitReport(now: string, withHostExec: boolean): unknown {
  const latestControls: Record<string, unknown> = {
    switchToIdle: { timestamp: now, value: { dead: false } },
    switchToIOWait: { timestamp: now, value: { dead: true } },
  };
  if (withHostExec) latestControls['host_exec'] = { timestamp: now, value: { dead: false } };
  return {
    Host: {
      nodes: { [`${hostname()};<host>`]: { metrics: { iowait: { samples: [{ date: now, value: 0.25 }], min: 0, max: 100 } }, latestControls } },
      metric_templates: { iowait: { id: 'iowait', label: 'IO Wait', format: 'percent', priority: 0.1 } },
      controls: {
        switchToIOWait: { id: 'switchToIOWait', human: 'Switch to IO wait', icon: 'fa-clock-o', rank: 1 },
        switchToIdle: { id: 'switchToIdle', human: 'Switch to idle', icon: 'fa-gears', rank: 1 },
      },
    },
    Plugins: [{ id: 'iowait', label: 'iowait', description: 'Adds a graph of CPU IO Wait to hosts', interfaces: ['reporter', 'controller'], api_version: '1' }],
  };
}

describe('doctor bin against a plugin serving the original Go iowait report shape, over a real socket', () => {
  let root: string;
  let socket: string;
  let withHostExec = false;
  let server: Server;
  const env = { ...process.env };
  delete env['SCOPE_HOSTNAME'];

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'sp-goiowait-'));
    await mkdir(join(root, 'iowait'));
    socket = join(root, 'iowait', 'iowait.sock');
    server = createServer((_req, res) => res.end(JSON.stringify(goIowaitReport(new Date().toISOString(), withHostExec))));
    await new Promise<void>((resolve) => server.listen(socket, resolve));
  });
  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
    await rm(root, { recursive: true, force: true });
  });

  it('on its own host: no false alarm for the missing id, one [lost] for the hidden Exec shell, exit 1', async () => {
    withHostExec = false;
    const { code, stdout } = await runDoctorBin([socket], env);
    const lines = stdout.split('\n').filter((l) => /^\s+\[/.test(l));
    expect(lines).toEqual([
      `    [lost] Host.nodes["${hostname()};<host>"].latestControls: this host node's control list ("switchToIdle") replaces the probe's in Scope v1.13.2 and hides its "Exec shell" button (host_exec); fix: list it too: host_exec: {"dead": false} in latestControls`,
      `    [note] Host.nodes["${hostname()};<host>"]: node has no id: it shows because the probe reports the same node and the merge keeps the probe's id; send id anyway`,
    ]);
    expect(stdout).toContain('status: ok');
    expect(code).toBe(1);
  });

  it('with the fix applied (host_exec listed), the same shape passes: exit 0', async () => {
    withHostExec = true;
    const { code, stdout } = await runDoctorBin([socket], env);
    expect(stdout).toContain('violations: none');
    expect(code).toBe(0);
  });

  it('with SCOPE_HOSTNAME set, the Go plugin (which ignores it) is really lost, and the doctor says so', async () => {
    withHostExec = true;
    const { code, stdout } = await runDoctorBin([socket], { ...env, SCOPE_HOSTNAME: 'h' });
    expect(stdout.split('\n').filter((l) => l.includes('[lost]'))).toEqual([
      `    [lost] Host.nodes["${hostname()};<host>"]: node has no id and the probe does not report this node: Scope re-keys it to "" and never shows it`,
      `    [lost] Host.nodes["${hostname()};<host>"]: host node "${hostname()};<host>" is not this host ("h", from $SCOPE_HOSTNAME or the hostname): it stays invisible`,
    ]);
    expect(code).toBe(1);
  });
});

describe('runDoctor reads /proc only for id-less process or container nodes, and then judges them by it', () => {
  it('over a real socket: a live pid without id is a note, a gone one is lost', async () => {
    const root = await mkdtemp(join(tmpdir(), 'sp-noid-'));
    await mkdir(join(root, 'p'));
    const socket = join(root, 'p', 'p.sock');
    const body = JSON.stringify({
      Plugins: [{ id: 'p', label: 'P', interfaces: ['reporter'], api_version: '1' }],
      Process: { nodes: { [`h;${process.pid}`]: { latest: {} }, 'h;999999999': { latest: {} } } },
    });
    const server = createServer((_req, res) => res.end(body));
    await new Promise<void>((resolve) => server.listen(socket, resolve));
    try {
      const [entry] = await runDoctor(socket, { hostId: 'h' });
      expect(entry!.diagnosis.violations.filter((v) => v.path.length === 3).map((v) => [v.kind, v.path[2]])).toEqual([
        ['note', `h;${process.pid}`],
        ['lost', 'h;999999999'],
      ]);
    } finally {
      await new Promise((resolve) => server.close(resolve));
      await rm(root, { recursive: true, force: true });
    }
  });
});

describe('doctor advice on unnamed table rows', () => {
  const report = (cells: Record<string, string>) =>
    JSON.stringify({
      Plugins: [{ id: 'p', label: 'P', interfaces: ['reporter'], api_version: '1' }],
      Process: {
        nodes: { 'h;42': { id: 'h;42', latest: Object.fromEntries(Object.entries(cells).map(([k, v]) => [k, { timestamp: '2026-11-30T00:00:00Z', value: v }])) } },
        table_templates: { m: { id: 'm', label: 'By method', prefix: 'p_m_', type: 'multicolumn-table', columns: [{ id: 'method', label: 'Method' }, { id: 'total', label: 'Total' }] } },
      },
    });

  it('notes rows without a first-column cell (what issue 14 saw: "775 | 6" with no method), and says nothing once they have one', () => {
    const before = diagnoseReportBody(report({ p_m_GET___total: '775', p_m_POST___total: '6' }), { pluginId: 'p', hostId: 'h' });
    expect(before.violations.map((v) => [v.kind, v.message])).toEqual([
      ['note', 'table "m": row(s) "GET", "POST" have no cell in the first column "method"; Scope never shows row ids, so a user cannot tell which row is which'],
    ]);
    const after = diagnoseReportBody(report({ p_m_GET___method: 'GET', p_m_GET___total: '775', p_m_POST___method: 'POST', p_m_POST___total: '6' }), { pluginId: 'p', hostId: 'h' });
    expect(after.violations).toEqual([]);
  });
});
