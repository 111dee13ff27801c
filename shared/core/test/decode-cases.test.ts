import { createServer, type Server } from 'node:http';
import { mkdir, mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { diagnoseControlResponse, diagnoseReportBody, guardReport, inspectReport, parseControlRequest, runDoctor, type Report } from '../src/index.js';

// Conformance fixtures run through the real Scope v1.13.2 (see fixtures/scope-decode-cases/README.md).
const CASES = new URL('./fixtures/scope-decode-cases/', import.meta.url).pathname;

/** Expected probe status per report fixture, from the fixtures' README. */
const EXPECTED: Record<string, string> = {
  'report-minimal-valid.json': 'ok',
  'report-example-host-metric-table-control.json': 'ok',
  'report-api-version-string.json': 'ok',
  'report-api-version-number.json': 'ok',
  'report-api-version-float.json': 'error: incorrect API version: expected "1", got "1.0"',
  'report-api-version-bool.json': 'error: incorrect API version: expected "1", got "true"',
  'report-api-version-missing.json': 'error: incorrect API version: expected "1", got ""',
  'report-null-values.json': 'error: incorrect API version: expected "1", got ""',
  'report-plugins-key-lowercase.json': 'error: report must contain exactly one plugin (found 0)',
  'report-plugins-not-array.json': 'error: decoding error',
  'report-two-plugin-specs.json': 'error: report must contain exactly one plugin (found 2)',
  'report-plugin-id-mismatch.json': 'error: plugin must not change its id (is "other", should be "p")',
  'report-empty-label.json': 'error: spec must contain a label',
  'report-no-reporter-interface.json': 'error: spec must implement the "reporter" interface',
  'report-interfaces-not-array.json': 'error: decoding error',
  'report-topology-key-lowercase.json': 'ok',
  'report-host-field-variants.json': 'ok',
  'report-timestamp-not-rfc3339.json': 'error: decoding error',
  'report-timestamp-epoch-number.json': 'error: decoding error',
  'report-latest-entry-not-object.json': 'error: decoding error',
  'report-truncated-json.json': 'error: decoding error',
  'report-trailing-garbage.json': 'ok',
  'report-unknown-fields.json': 'ok',
  'report-null-topology-fields.json': 'ok',
  'report-legacy-latestControls-counters.json': 'ok',
  'report-crash-multicolumn-key-without-separator.json': 'ok',
  'report-crash-topology-mismatch.json': 'ok',
  'report-crash-topology-mismatch-partner.json': 'ok',
};

function socketIdFor(file: string): string {
  if (file.includes('-minimal-') || file.includes('-example-')) return 'demo';
  if (file.endsWith('-partner.json')) return 'q';
  return 'p';
}

const read = (file: string) => readFile(join(CASES, file), 'utf8');

describe('Scope decode cases, served over real sockets and judged by the doctor', () => {
  let root: string;
  const servers: Server[] = [];
  const serve = async (id: string, body: string) => {
    const dir = join(root, id);
    await mkdir(dir, { recursive: true });
    const server = createServer((_req, res) => res.end(body));
    await new Promise<void>((resolve) => server.listen(join(dir, `${id}.sock`), resolve));
    servers.push(server);
    return join(dir, `${id}.sock`);
  };

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'sp-cases-'));
  });
  afterAll(async () => {
    await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
    await rm(root, { recursive: true, force: true });
  });

  it('expects what the fixtures README says the real Scope did with each report', async () => {
    // Rows like: | `report-x.json` | no: `error: …` | why |  (a verdict starting with "…" abbreviates the error above it).
    const rows = (await read('README.md')).split('\n').filter((line) => line.startsWith('| `report-'));
    const verdicts = rows.flatMap((row) => {
      const [files, verdict] = row.split('|').slice(1, 3).map((cell) => cell.trim()) as [string, string];
      return [...files.matchAll(/`(report-[^`]+\.json)`/g)].map((m) => [m[1]!, verdict] as const);
    });
    expect(verdicts.map(([file]) => file).sort()).toEqual(Object.keys(EXPECTED).sort());
    for (const [file, verdict] of verdicts) {
      const expected = EXPECTED[file]!;
      const quoted = /`([^`]*)`/.exec(verdict)?.[1] ?? '';
      if (expected === 'ok') expect(verdict, file).toMatch(/(^|: )yes|^each alone: yes/);
      else if (quoted.startsWith('… ')) expect(expected.endsWith(quoted.slice(2)), `${file}: ${verdict}`).toBe(true);
      else expect(expected, file).toBe(quoted.replace(/: …$/, ''));
    }
  });

  it('covers every report fixture in the directory', async () => {
    const files = (await readdir(CASES)).filter((f) => f.startsWith('report-'));
    expect(files.sort()).toEqual(Object.keys(EXPECTED).sort());
  });

  for (const [file, expected] of Object.entries(EXPECTED)) {
    it(`${file} → ${expected}`, async () => {
      const socketPath = await serve(`${socketIdFor(file)}`, await read(file));
      const [entry] = await runDoctor(socketPath, { hostId: 'h' });
      await new Promise((resolve) => servers.pop()!.close(resolve));
      if (expected === 'error: decoding error') expect(entry!.diagnosis.status).toMatch(/^error: decoding error: /);
      else expect(entry!.diagnosis.status).toBe(expected);
    });
  }

  it('flags the multicolumn key without ___ as a crash', async () => {
    const d = diagnoseReportBody(await read('report-crash-multicolumn-key-without-separator.json'), { pluginId: 'p', hostId: 'h' });
    expect(d.violations.filter((v) => v.kind === 'crash')).toEqual([
      expect.objectContaining({ path: ['Host', 'nodes', 'h;<host>', 'latest', 'p_mc_orphan'] }),
    ]);
  });

  it('flags topology "Host" (instead of "host") as unsafe: with a partner it crashes the probe', async () => {
    const d = diagnoseReportBody(await read('report-crash-topology-mismatch.json'), { pluginId: 'p', hostId: 'h' });
    expect(d.violations.filter((v) => v.kind !== 'note')).toEqual([
      expect.objectContaining({ kind: 'unsafe', path: ['Host', 'nodes', 'h;<host>', 'topology'] }),
    ]);
    const partner = diagnoseReportBody(await read('report-crash-topology-mismatch-partner.json'), { pluginId: 'q', hostId: 'h' });
    expect(partner.violations.filter((v) => v.kind !== 'note')).toEqual([]);
  });

  it('flags a lower-case topology key as lost data', async () => {
    const d = diagnoseReportBody(await read('report-topology-key-lowercase.json'), { pluginId: 'p', hostId: 'h' });
    expect(d.violations.filter((v) => v.kind !== 'note').map((v) => [v.kind, v.path])).toEqual([['lost', ['host']]]);
  });

  it('the example report has one violation: its host control list hides the probe\'s Exec shell (host_exec)', async () => {
    const d = diagnoseReportBody(await read('report-example-host-metric-table-control.json'), { pluginId: 'demo', hostId: 'h' });
    expect(d.violations.map((v) => [v.kind, v.code, v.path.join('/')])).toEqual([['lost', 'host-exec-hidden', 'Host/nodes/h;<host>/latest/active_controls']]);
    expect(d.topologies['Host']).toEqual({
      nodes: ['h;<host>'],
      metadataTemplates: ['demo_mode'],
      metricTemplates: ['demo_iowait'],
      tableTemplates: ['demo-cpu'],
      controls: ['demo-toggle'],
    });
  });
});

describe('report guard on the decode cases', () => {
  const accepted = Object.entries(EXPECTED).filter(([f, s]) => s === 'ok' && f !== 'report-trailing-garbage.json');
  for (const [file] of accepted) {
    it(`${file}: the guarded report has nothing left that breaks Scope`, async () => {
      const report = JSON.parse(await read(file)) as Report;
      const pluginId = socketIdFor(file);
      const { report: guarded } = guardReport(report, { pluginId, hostId: 'h' });
      expect(inspectReport(guarded, { pluginId, hostId: 'h' }).filter((v) => v.kind !== 'note')).toEqual([]);
    });
  }

  it('removes exactly the crashing multicolumn key and keeps the good cell', async () => {
    const report = JSON.parse(await read('report-crash-multicolumn-key-without-separator.json')) as Report;
    const { report: guarded, violations } = guardReport(report, { pluginId: 'p', hostId: 'h' });
    expect(violations.map((v) => v.kind)).toEqual(['crash']);
    expect(Object.keys(guarded.Host!.nodes!['h;<host>']!.latest!)).toEqual(['p_mc_row1___name']);
  });

  it('refuses a report whose spec Scope would reject', async () => {
    const report = JSON.parse(await read('report-empty-label.json')) as Report;
    expect(() => guardReport(report, { pluginId: 'p' })).toThrow(/spec must contain a label/);
  });

  it('drops NaN and Infinity samples that JSON would turn into 0', () => {
    const report: Report = {
      Plugins: [{ id: 'p', label: 'P', interfaces: ['reporter'], api_version: '1' }],
      Host: { nodes: { 'h;<host>': { id: 'h;<host>', metrics: { m: { samples: [{ date: '2024-01-01T00:00:00Z', value: Number.NaN }, { date: '2024-01-01T00:00:01Z', value: 2 }], min: 0, max: Infinity } } } } },
    };
    const { report: guarded, violations } = guardReport(report, { pluginId: 'p', hostId: 'h' });
    expect(violations.map((v) => v.path.join('/')).sort()).toEqual(['Host/nodes/h;<host>/metrics/m/max', 'Host/nodes/h;<host>/metrics/m/samples/0/value']);
    expect(guarded.Host!.nodes!['h;<host>']!.metrics!['m']).toEqual({ samples: [{ date: '2024-01-01T00:00:01Z', value: 2 }], min: 0 });
  });
});

describe('control fixtures', () => {
  const poll = (body: string) => ({ ok: true as const, statusCode: 200, statusMessage: 'OK', body, elapsedMs: 1 });

  it('parses the exact bodies the real probe sent', async () => {
    expect(parseControlRequest(await read('control-request-no-args.json'))).toEqual({ appId: expect.any(String), control: 'demo-toggle', nodeId: 'h;<host>', args: {}, probeId: undefined });
    expect(parseControlRequest(await read('control-request-with-args.json'))).toEqual(expect.objectContaining({ args: { k: 'v' } }));
  });

  it.each([
    ['control-response-success-empty.json', 'ok', []],
    ['control-response-value.json', 'ok', []],
    ['control-response-error.json', 'error (UI gets 400): demo: mode change failed', []],
    // Its shortcut's host control list lacks host_exec, like the example report's.
    ['control-response-shortcut.json', 'ok, with shortcut report', ['lost']],
    ['control-response-shortcut-uppercase-ignored.json', 'ok', ['lost']],
    ['control-response-crash-shortcut-without-plugins.json', 'ok, with shortcut report', ['crash', 'lost']],
  ])('%s → %s', async (file, outcome, kinds) => {
    const result = diagnoseControlResponse(poll(await read(file)), { pluginId: 'demo', hostId: 'h' });
    expect(result.outcome).toBe(outcome);
    expect([...new Set(result.violations.filter((v) => v.kind !== 'note' && v.kind !== 'registry').map((v) => v.kind))]).toEqual(kinds);
  });
});
