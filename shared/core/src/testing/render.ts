import type { TopologyKey } from '../protocol/topologies.js';
import { MULTICOLUMN_SEPARATOR } from '../report/builder.js';
import type { Report, TableColumn } from '../report/types.js';

/** One metadata row as Scope's details panel shows it. */
export interface RenderedRow {
  id: string;
  label: string;
  value: string;
  priority: number;
}

/** One table as the details panel shows it: the declared columns and each row's cells, in Scope's row order. */
export interface RenderedTable {
  id: string;
  label: string;
  type: 'property-list' | 'multicolumn-table';
  columns: TableColumn[];
  /** Multicolumn: row id → column label → cell (absent cells omitted). Property list: label → value. */
  rows: Array<{ id: string; cells: Record<string, string> }>;
}

/** What a user reads in the details panel of one node, from one plugin's report alone. */
export interface RenderedNode {
  /** Rows shown at once (priority < 10), sorted by priority. */
  metadata: RenderedRow[];
  /** Rows behind "show more" (priority ≥ 10). */
  moreMetadata: RenderedRow[];
  /** Metric templates that have data on the node, by priority, with the last sample. */
  metrics: Array<{ id: string; label: string; value: number; priority: number }>;
  tables: RenderedTable[];
}

/**
 * Renders a node the way Scope v1.13.2 builds its details panel (report/metadata_template.go, report/table.go,
 * UI node-details-info.js): metadata from templates (latest, sets joined by ", ", `truncate` applied), rows
 * under 10 shown and the rest behind "show more"; multicolumn tables from `<prefix><row>___<col>` keys with
 * cells under the declared column labels; property lists from `<prefix><label>` keys and fixed rows; empty
 * tables hidden. A test of what a user reads asserts on this.
 */
export function renderNode(report: Report, key: TopologyKey, nodeId: string): RenderedNode {
  const topology = report[key];
  const node = topology?.nodes?.[nodeId];
  const latest = node?.latest ?? {};
  const rows: RenderedRow[] = [];
  for (const t of Object.values(topology?.metadata_templates ?? {})) {
    const from = t.from ?? '';
    let value: string | undefined;
    if ((from === '' || from === 'latest') && latest[t.id]) value = latest[t.id]!.value;
    if (value === undefined && (from === '' || from === 'sets') && node?.sets?.[t.id]) value = node.sets[t.id]!.join(', ');
    if (value === undefined && (from === '' || from === 'counters') && latest[`count_${t.id}`]) value = latest[`count_${t.id}`]!.value;
    if (value === undefined) continue;
    if (t.truncate && t.truncate > 0) value = [...value].slice(0, t.truncate).join('');
    rows.push({ id: t.id, label: t.label, value, priority: t.priority ?? 0 });
  }
  rows.sort((a, b) => a.priority - b.priority);
  const metrics = Object.values(topology?.metric_templates ?? {})
    .filter((t) => (node?.metrics?.[t.id]?.samples.length ?? 0) > 0)
    .map((t) => ({ id: t.id, label: t.label, value: node!.metrics![t.id]!.samples.at(-1)!.value, priority: t.priority ?? 0 }))
    .sort((a, b) => a.priority - b.priority);
  const tables: RenderedTable[] = [];
  for (const t of Object.values(topology?.table_templates ?? {}).sort((a, b) => (a.id < b.id ? -1 : 1))) {
    const columns = t.columns ?? [];
    const byRow = new Map<string, Record<string, string>>();
    if (t.type === 'multicolumn-table') {
      const labels = new Map(columns.map((c) => [c.id, c.label]));
      for (const [k, entry] of Object.entries(latest)) {
        if (!k.startsWith(t.prefix)) continue;
        const [rowId, columnId] = k.slice(t.prefix.length).split(MULTICOLUMN_SEPARATOR);
        const label = labels.get(columnId ?? '');
        // Scope keeps cells of undeclared columns in the row, but the UI shows only declared columns.
        if (rowId === undefined || label === undefined) continue;
        byRow.set(rowId, { ...byRow.get(rowId), [label]: entry.value });
      }
    } else {
      for (const [k, entry] of Object.entries(latest)) if (k.startsWith(t.prefix)) byRow.set(`label_${k.slice(t.prefix.length)}`, { [k.slice(t.prefix.length)]: entry.value });
      for (const [k, label] of Object.entries(t.fixedRows ?? {})) if (latest[k]) byRow.set(`label_${label}`, { [label]: latest[k]!.value });
    }
    if (byRow.size === 0) continue;
    const sorted = [...byRow.entries()].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)).map(([id, cells]) => ({ id, cells }));
    tables.push({ id: t.id, label: t.label, type: t.type === 'multicolumn-table' ? 'multicolumn-table' : 'property-list', columns, rows: sorted });
  }
  return { metadata: rows.filter((r) => r.priority < 10), moreMetadata: rows.filter((r) => r.priority >= 10), metrics, tables };
}
