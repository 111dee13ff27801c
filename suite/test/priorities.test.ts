import { describe, expect, it } from 'vitest';
import { findPriorityCollisions, type PriorityRows, type TopologyKey } from '@scope-plugins/core';
import { SUITE_PLUGINS } from '../src/index.js';

// Two rows with one priority swap places between nodes and refreshes in Scope's details panel.
describe('template priorities of every plugin of the suite', () => {
  it("collide neither with the probe's own rows (PROTOCOL-NOTES.md) nor with each other", () => {
    const rows: PriorityRows = {};
    for (const definition of SUITE_PLUGINS.values()) {
      for (const [key, templates] of Object.entries(definition.topologies) as Array<[TopologyKey, NonNullable<(typeof definition.topologies)[TopologyKey]>]>) {
        const into = (rows[key] ??= { metadata: [], metrics: [] });
        // Same id in two templates is one row (e.g. iowait's two metrics, of which only one has data at a time).
        const seen = new Set<string>();
        for (const t of templates.metadataTemplates ?? []) if (!seen.has(`m:${t.id}`) && seen.add(`m:${t.id}`)) into.metadata!.push([`${definition.id}: ${t.label}`, t.priority ?? 0]);
        for (const t of templates.metricTemplates ?? []) into.metrics!.push([`${definition.id}: ${t.label}`, t.priority ?? 0]);
      }
    }
    // iowait's "IO Wait" and "Idle" graphs share 0.1 on purpose: only the one of the current mode has data.
    const collisions = findPriorityCollisions(rows).filter((c) => !(c.topology === 'Host' && c.kind === 'metrics' && c.rows.every((r) => r.startsWith('iowait: '))));
    expect(collisions).toEqual([]);
    // The check itself sees a collision when there is one.
    expect(findPriorityCollisions({ Container: { metadata: [['host-namespaces: Namespaces shared with host', 4]] } })).toEqual([
      { topology: 'Container', kind: 'metadata', priority: 4, rows: ['probe: State', 'host-namespaces: Namespaces shared with host'] },
    ]);
  });
});
