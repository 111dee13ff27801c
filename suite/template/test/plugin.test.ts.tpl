/**
 * The plugin served on a real UNIX socket, reading the fixture directory as its /proc: the report it
 * serves, and the doctor's verdict (what Scope's probe would make of it).
 */
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { findPriorityCollisions, hostNodeId, type PriorityRows, type Report, type TopologyKey } from '@scope-plugins/core';
import { startTestPlugin } from '@scope-plugins/core/testing';
import { KEYS, plugin } from '../src/index.js';

const FIXTURE_PROC = fileURLToPath(new URL('./fixtures/proc', import.meta.url));
const HOST = hostNodeId('test-host');

/** The latest values of the host node, by key. */
function latestOf(report: Report): Record<string, string> {
  return Object.fromEntries(Object.entries(report.Host?.nodes?.[HOST]?.latest ?? {}).map(([key, entry]) => [key, entry.value]));
}

describe('{{id}} plugin', () => {
  it('serves the load average of its /proc on the host node, and Scope accepts the report', async () => {
    const served = await startTestPlugin(plugin, { procRoot: FIXTURE_PROC, hostId: 'test-host' });
    try {
      const report = await served.waitForReport((r) => r.Host?.nodes?.[HOST] !== undefined);
      expect(latestOf(report)).toEqual({
        [KEYS.load1]: '14.19',
        [KEYS.load5]: '14.89',
        [KEYS.load15]: '11.84',
        [KEYS.tasks]: '26 / 1134',
      });
      expect(report.Host?.nodes?.[HOST]?.metrics?.[KEYS.runnable]?.samples.map((s) => s.value)).toEqual([26]);
      const diagnosis = await served.doctor();
      expect(diagnosis.violations).toEqual([]);
      expect(diagnosis.status).toBe('ok');
    } finally {
      await served.stop();
    }
  });

  it("keeps its rows' priorities clear of the probe's own rows (equal priorities swap places on every refresh)", () => {
    const rows: PriorityRows = {};
    for (const topology of Object.keys(plugin.topologies) as TopologyKey[]) {
      const templates = plugin.topologies[topology]!;
      rows[topology] = {
        metadata: (templates.metadataTemplates ?? []).map((t) => [`{{id}}: ${t.label}`, t.priority ?? 0]),
        metrics: (templates.metricTemplates ?? []).map((t) => [`{{id}}: ${t.label}`, t.priority ?? 0]),
      };
    }
    expect(findPriorityCollisions(rows)).toEqual([]);
  });

  it('rounds to --decimals', async () => {
    const served = await startTestPlugin(plugin, { procRoot: FIXTURE_PROC, hostId: 'test-host', options: { decimals: 0 } });
    try {
      const report = await served.waitForReport((r) => r.Host?.nodes?.[HOST] !== undefined);
      expect(latestOf(report)).toMatchObject({ [KEYS.load1]: '14', [KEYS.load5]: '15', [KEYS.load15]: '12' });
    } finally {
      await served.stop();
    }
  });
});
