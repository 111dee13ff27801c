import { TOPOLOGY_NAMES, type TopologyKey, type TopologyName } from '../protocol/topologies.js';
import type {
  Control,
  MetadataTemplate,
  Metric,
  MetricTemplate,
  ReportNode,
  ReportTopologies,
  Sample,
  TableTemplate,
  Topology,
  TopologyTemplates,
} from './types.js';

/** Separator between row id and column id in multicolumn-table latest keys. */
export const MULTICOLUMN_SEPARATOR = '___';

/** Probe control kept alive next to a plugin's host controls (Scope v1.13.x replaces the whole list). */
export const HOST_EXEC_CONTROL = 'host_exec';

/** A value that becomes a latest string. */
export type LatestValue = string | number | boolean;

/** Rows of a multicolumn table: row id → column id → cell. */
export type TableRows = Record<string, Record<string, LatestValue | undefined>>;

function sortedUnique(values: Iterable<string>): string[] {
  return [...new Set(values)].sort();
}

function formatLatest(value: LatestValue): string {
  return typeof value === 'string' ? value : String(value);
}

/** Builds one node; every latest entry is stamped with the report's time. */
export class NodeBuilder {
  readonly node: ReportNode;
  readonly #timestamp: string;
  readonly #topologyKey: TopologyKey;

  constructor(id: string, topologyKey: TopologyKey, timestamp: string) {
    this.node = { id, topology: TOPOLOGY_NAMES[topologyKey] };
    this.#timestamp = timestamp;
    this.#topologyKey = topologyKey;
  }

  /** Sets a latest entry. */
  latest(key: string, value: LatestValue): this {
    (this.node.latest ??= {})[key] = { timestamp: this.#timestamp, value: formatLatest(value) };
    return this;
  }

  /** Sets a metric from samples, or from a single value sampled at the report time. */
  metric(id: string, samples: Sample[] | number, bounds: { min: number; max: number }): this {
    const list = typeof samples === 'number' ? [{ date: this.#timestamp, value: samples }] : samples;
    const metric: Metric = { samples: list, min: bounds.min, max: bounds.max };
    (this.node.metrics ??= {})[id] = metric;
    return this;
  }

  /** Sets a metric from a ready {@link Metric} (e.g. a metric window's), if there is one. */
  metricValue(id: string, metric: Metric | undefined): this {
    if (metric) (this.node.metrics ??= {})[id] = metric;
    return this;
  }

  /** Sets a string set (sorted, de-duplicated). */
  set(key: string, values: Iterable<string>): this {
    (this.node.sets ??= {})[key] = sortedUnique(values);
    return this;
  }

  /** Adds a parent node. */
  parent(topology: TopologyName, id: string): this {
    const parents = (this.node.parents ??= {});
    parents[topology] = sortedUnique([...(parents[topology] ?? []), id]);
    return this;
  }

  /** Fills a multicolumn table: one latest key `<prefix><row>___<column>` per defined cell. */
  table(prefix: string, rows: TableRows): this {
    for (const [rowId, cells] of Object.entries(rows)) {
      for (const [columnId, value] of Object.entries(cells)) {
        if (value !== undefined) this.latest(`${prefix}${rowId}${MULTICOLUMN_SEPARATOR}${columnId}`, value);
      }
    }
    return this;
  }

  /** Fills a property-list table: one latest key `<prefix><label>` per row. */
  propertyList(prefix: string, rows: Record<string, LatestValue | undefined>): this {
    for (const [label, value] of Object.entries(rows)) {
      if (value !== undefined) this.latest(`${prefix}${label}`, value);
    }
    return this;
  }

  /**
   * Marks controls as live on this node, both as `active_controls` (v1.13+) and `latestControls` (≤ v1.12).
   * On host nodes the probe's own `host_exec` is listed too, because Scope v1.13.x lets a plugin's list
   * replace the probe's and would otherwise hide the "Exec shell" button.
   */
  activeControls(ids: string[]): this {
    const list = sortedUnique(ids);
    if (list.length === 0) return this;
    if (this.#topologyKey === 'Host' && !list.includes(HOST_EXEC_CONTROL)) list.push(HOST_EXEC_CONTROL);
    this.latest('active_controls', list.join(';'));
    this.node.latestControls = Object.fromEntries(
      list.map((id) => [id, { timestamp: this.#timestamp, value: { dead: false } }]),
    );
    return this;
  }
}

/** Builds one topology: nodes, templates and controls, each map keyed by the entry's id. */
export class TopologyBuilder {
  readonly topology: Topology = {};
  readonly #key: TopologyKey;
  readonly #timestamp: string;
  readonly #nodes = new Map<string, NodeBuilder>();

  constructor(key: TopologyKey, timestamp: string) {
    this.#key = key;
    this.#timestamp = timestamp;
  }

  /** The node with this id, created on first use. */
  node(id: string): NodeBuilder {
    let builder = this.#nodes.get(id);
    if (!builder) {
      builder = new NodeBuilder(id, this.#key, this.#timestamp);
      this.#nodes.set(id, builder);
      (this.topology.nodes ??= {})[id] = builder.node;
    }
    return builder;
  }

  /** True when a node with this id has been added. */
  hasNode(id: string): boolean {
    return this.#nodes.has(id);
  }

  metadataTemplate(template: MetadataTemplate): this {
    (this.topology.metadata_templates ??= {})[template.id] = template;
    return this;
  }

  metricTemplate(template: MetricTemplate): this {
    (this.topology.metric_templates ??= {})[template.id] = template;
    return this;
  }

  tableTemplate(template: TableTemplate): this {
    (this.topology.table_templates ??= {})[template.id] = template;
    return this;
  }

  control(control: Control): this {
    (this.topology.controls ??= {})[control.id] = control;
    return this;
  }

  /** Adds every template and control of a static definition. */
  templates(definition: TopologyTemplates): this {
    definition.metadataTemplates?.forEach((t) => this.metadataTemplate(t));
    definition.metricTemplates?.forEach((t) => this.metricTemplate(t));
    definition.tableTemplates?.forEach((t) => this.tableTemplate(t));
    definition.controls?.forEach((c) => this.control(c));
    return this;
  }
}

/** Builds a report's topologies; the spec is added by the runtime. */
export class ReportBuilder {
  /** RFC 3339 time stamped on every latest entry of this report. */
  readonly timestamp: string;
  readonly now: Date;
  readonly #topologies = new Map<TopologyKey, TopologyBuilder>();

  constructor(now: Date = new Date()) {
    this.now = now;
    this.timestamp = now.toISOString();
  }

  /** The topology under this key (`Host`, `Container`, `Process`, ...), created on first use. */
  topology(key: TopologyKey): TopologyBuilder {
    if (!Object.hasOwn(TOPOLOGY_NAMES, key)) throw new TypeError(`unknown topology key ${JSON.stringify(key)}`);
    let builder = this.#topologies.get(key);
    if (!builder) {
      builder = new TopologyBuilder(key, this.timestamp);
      this.#topologies.set(key, builder);
    }
    return builder;
  }

  /** The topologies in a stable key order. */
  build(): ReportTopologies {
    const out: ReportTopologies = {};
    for (const key of [...this.#topologies.keys()].sort()) out[key] = this.#topologies.get(key)!.topology;
    return out;
  }
}

/** Creates a {@link ReportBuilder} stamped with `now`. */
export function createReport(now: Date = new Date()): ReportBuilder {
  return new ReportBuilder(now);
}
