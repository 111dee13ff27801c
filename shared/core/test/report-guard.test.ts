/**
 * The report guard's repairs, case by case: what it removes, what it keeps, in which order, and that the
 * plugin's own report is never touched. Written against the survivors of the mutation check
 * (bench/results/mutation.md): each case fails on a deliberate breakage of guard.ts.
 */
import { describe, expect, it } from 'vitest';
import { describeViolation, guardReport, inspectReport, type Report } from '../src/index.js';

const SPEC = { id: 'p', label: 'P', interfaces: ['reporter'], api_version: '1' };
const T0 = '2024-01-01T00:00:00Z';
const T1 = '2024-01-01T00:00:01Z';
const T2 = '2024-01-01T00:00:02Z';

/** A report with one host node of host "h" carrying `node`. */
function hostReport(node: Record<string, unknown>, host: Record<string, unknown> = {}): Report {
  return { Plugins: [SPEC], Host: { nodes: { 'h;<host>': { id: 'h;<host>', topology: 'host', ...node } }, ...host } } as unknown as Report;
}

const guard = (report: Report) => guardReport(report, { pluginId: 'p', hostId: 'h' });
const problemsOf = (report: Report) => inspectReport(report, { pluginId: 'p', hostId: 'h' }).filter((v) => v.kind !== 'note');

describe('guardReport', () => {
  it('returns the very report (no copy) with no violation when nothing is wrong', () => {
    const report = hostReport({ latest: { p_a: { timestamp: T0, value: '1' } } });
    const result = guard(report);
    expect(result.violations).toEqual([]);
    expect(result.report).toBe(report);
  });

  it('repairs a copy and leaves the plugin\'s report exactly as it was', () => {
    const report = hostReport({ latest: { p_a: { timestamp: 'yesterday', value: '1' }, p_b: { timestamp: T0, value: '2' } } });
    const before = structuredClone(report);
    const { report: guarded } = guard(report);
    expect(report).toEqual(before);
    expect(guarded).not.toBe(report);
    expect(guarded.Host!.nodes!['h;<host>']!.latest).toEqual({ p_b: { timestamp: T0, value: '2' } });
  });

  it('drops every bad sample of a series and keeps the good ones, in order (removals never shift a pending index)', () => {
    const samples = [
      { date: T0, value: Number.NaN },
      { date: T0, value: 1 },
      { date: 'not a date', value: 2 },
      { date: T1, value: 3 },
      { date: T2, value: Number.POSITIVE_INFINITY },
      { date: T2, value: 4 },
    ];
    const report = hostReport({ metrics: { p_m: { samples, min: 0, max: 10 } } });
    const { report: guarded, violations } = guard(report);
    expect(violations.map((v) => v.path.join('/'))).toEqual(expect.arrayContaining(['Host/nodes/h;<host>/metrics/p_m/samples/0/value', 'Host/nodes/h;<host>/metrics/p_m/samples/4/value']));
    expect(guarded.Host!.nodes!['h;<host>']!.metrics!['p_m']!.samples.map((s) => s.value)).toEqual([1, 3, 4]);
    expect(problemsOf(guarded)).toEqual([]);
  });

  it('removes a bad latest entry whole (its key too), not only the bad field', () => {
    const report = hostReport({ latest: { p_bad: { timestamp: 'soon', value: 'x' }, p_good: { timestamp: T0, value: 'y' } } });
    const { report: guarded } = guard(report);
    expect(Object.keys(guarded.Host!.nodes!['h;<host>']!.latest!)).toEqual(['p_good']);
  });

  it('removes a crash at one depth and a bad value below another at once, leaving what is fine beside them', () => {
    const report = hostReport(
      {
        latest: {
          p_mc_orphan: { timestamp: T0, value: 'no separator' },
          p_mc_r1___c: { timestamp: T0, value: 'cell' },
          p_x: { timestamp: 'never', value: 'bad' },
        },
        metrics: { p_m: { samples: [{ date: T0, value: Number.NaN }, { date: T1, value: 5 }], min: 0, max: 10 } },
      },
      { table_templates: { p_mc: { id: 'p_mc', label: 'T', prefix: 'p_mc_', type: 'multicolumn-table', columns: [{ id: 'c', label: 'C' }] } } },
    );
    const { report: guarded, violations } = guard(report);
    expect(violations.map((v) => v.kind).sort()).toEqual(['crash', 'decode', 'unsafe']);
    const node = guarded.Host!.nodes!['h;<host>']!;
    expect(Object.keys(node.latest!)).toEqual(['p_mc_r1___c']);
    expect(node.metrics!['p_m']!.samples).toEqual([{ date: T1, value: 5 }]);
    expect(problemsOf(guarded)).toEqual([]);
  });

  it('adds host_exec to an active control list instead of dropping it, keeping the plugin\'s controls in their order', () => {
    for (const [list, fixed] of [
      ['b;a', 'b;a;host_exec'],
      ['a;', 'a;host_exec'],
    ] as const) {
      const report = hostReport({ latest: { active_controls: { timestamp: T1, value: list } } }, { controls: { a: { id: 'a', human: 'A', icon: 'fa-a', rank: 1 }, b: { id: 'b', human: 'B', icon: 'fa-b', rank: 2 } } });
      const { report: guarded, violations } = guard(report);
      expect(violations.map((v) => v.code)).toEqual(['host-exec-hidden']);
      expect(guarded.Host!.nodes!['h;<host>']!.latest!['active_controls']).toEqual({ timestamp: T1, value: fixed });
      expect(guarded.Host!.controls).toEqual(report.Host!.controls);
      expect(problemsOf(guarded)).toEqual([]);
    }
  });

  it('stamps the added latestControls host_exec like the list: active_controls\' time, else the newest control\'s', () => {
    const controls = { a: { id: 'a', human: 'A', icon: 'fa-a', rank: 1 }, b: { id: 'b', human: 'B', icon: 'fa-b', rank: 2 }, c: { id: 'c', human: 'C', icon: 'fa-c', rank: 3 } };
    const latestControls = { a: { timestamp: T2, value: { dead: false } }, b: { timestamp: T0, value: { dead: true } }, c: { timestamp: T1, value: { dead: true } } };
    const withActive = guard(hostReport({ latestControls, latest: { active_controls: { timestamp: T1, value: 'a' } } }, { controls })).report;
    expect(withActive.Host!.nodes!['h;<host>']!.latestControls!['host_exec']).toEqual({ timestamp: T1, value: { dead: false } });
    const without = guard(hostReport({ latestControls }, { controls })).report;
    expect(without.Host!.nodes!['h;<host>']!.latestControls).toEqual({ ...latestControls, host_exec: { timestamp: T2, value: { dead: false } } });
  });

  it('repairs only the node whose control list hides host_exec, whatever else it removes elsewhere', () => {
    const report = hostReport({ latest: { active_controls: { timestamp: T0, value: 'a;host_exec' }, p_bad: { timestamp: 'soon', value: 'x' } } }, { controls: { a: { id: 'a', human: 'A', icon: 'fa-a', rank: 1 } } });
    const { report: guarded, violations } = guard(report);
    expect(violations.map((v) => v.code)).toEqual([undefined]);
    expect(guarded.Host!.nodes!['h;<host>']!.latest).toEqual({ active_controls: { timestamp: T0, value: 'a;host_exec' } });
  });

  it('removes a bad template or column whole, so that nothing broken is left, and keeps the good ones', () => {
    const report = hostReport(
      { latest: { p_a: { timestamp: T0, value: '1' } } },
      {
        table_templates: {
          good: { id: 'good', label: 'G', prefix: 'p_g_', type: 'property-list' },
          idMismatch: { id: 'other', label: 'X', prefix: 'p_x_', type: 'property-list' },
          noPrefix: { id: 'noPrefix', label: 'N', prefix: '', type: 'property-list' },
          badType: { id: 'badType', label: 'B', prefix: 'p_b_', type: 'pie' },
          mc: { id: 'mc', label: 'M', prefix: 'p_mc_', type: 'multicolumn-table', columns: [{ id: 'ok', label: 'OK' }, { id: 'a___b', label: 'bad' }, { id: 'also', label: 'Also' }] },
        },
        metadata_templates: { p_a: { id: 'p_a', label: 'A', from: 'latest' }, p_wrong: { id: 'nope', label: 'W', from: 'latest' }, p_from: { id: 'p_from', label: 'F', from: 'sideways' } },
        controls: { ok: { id: 'ok', human: 'OK', icon: 'fa-x', rank: 1 }, 'bad;id': { id: 'bad;id', human: 'B', icon: 'fa-y', rank: 2 } },
      },
    );
    const { report: guarded, violations } = guard(report);
    expect(violations.map((v) => [v.kind, v.path.join('/')])).toEqual([
      ['lost', 'Host/table_templates/idMismatch/id'],
      ['lost', 'Host/table_templates/noPrefix/prefix'],
      ['lost', 'Host/table_templates/badType/type'],
      ['lost', 'Host/table_templates/mc/columns/1/id'],
      ['lost', 'Host/metadata_templates/p_wrong/id'],
      ['lost', 'Host/metadata_templates/p_from/from'],
      ['unsafe', 'Host/controls/bad;id'],
    ]);
    const host = guarded.Host!;
    expect(Object.keys(host.table_templates!)).toEqual(['good', 'mc']);
    expect(host.table_templates!['mc']!.columns).toEqual([{ id: 'ok', label: 'OK' }, { id: 'also', label: 'Also' }]);
    expect(host.metadata_templates).toEqual({ p_a: { id: 'p_a', label: 'A', from: 'latest' } });
    expect(Object.keys(host.controls!)).toEqual(['ok']);
    expect(host.nodes).toEqual(report.Host!.nodes);
    // The guard's promise: what is left has nothing that breaks Scope or loses data.
    expect(problemsOf(guarded)).toEqual([]);
  });

  it('describes a violation as kind, path and message on one line', () => {
    const { violations } = guard(hostReport({ latest: { p_bad: { timestamp: 'soon', value: 'x' } } }));
    expect(violations.map(describeViolation)).toEqual([`${violations[0]!.kind}: ${'Host.nodes["h;<host>"].latest.p_bad.timestamp'}: ${violations[0]!.message}`]);
  });
});
