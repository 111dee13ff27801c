import type { TopologyKey, TopologyName } from '../protocol/topologies.js';

/** A `latest` entry: a string value stamped with an RFC 3339 time. */
export interface LatestEntry {
  timestamp: string;
  value: string;
}

/** One metric sample. */
export interface Sample {
  date: string;
  value: number;
}

/** A metric: samples plus the graph bounds. */
export interface Metric {
  samples: Sample[];
  min: number;
  max: number;
}

/** Legacy (≤ v1.12) control activation entry. */
export interface LatestControlEntry {
  timestamp: string;
  value: { dead: boolean };
}

/** A node as Scope decodes it. */
export interface ReportNode {
  id: string;
  topology?: TopologyName;
  latest?: Record<string, LatestEntry>;
  latestControls?: Record<string, LatestControlEntry>;
  metrics?: Record<string, Metric>;
  sets?: Record<string, string[]>;
  parents?: Partial<Record<TopologyName, string[]>>;
  adjacency?: string[];
}

/** Metadata template `dataType` values the UI understands. */
export type MetadataDataType = '' | 'number' | 'ip' | 'datetime' | 'duration' | 'link';

/** A metadata row definition. */
export interface MetadataTemplate {
  id: string;
  label: string;
  dataType?: MetadataDataType;
  /** Below 10 shows in the details panel, 10 and above behind "show more". */
  priority?: number;
  from?: '' | 'latest' | 'sets' | 'counters';
  truncate?: number;
}

/** A metric graph definition. */
export interface MetricTemplate {
  id: string;
  label: string;
  format?: '' | 'percent' | 'filesize' | 'integer';
  group?: string;
  priority?: number;
}

/** A table column. */
export interface TableColumn {
  id: string;
  label: string;
  dataType?: '' | 'number' | 'ip' | 'link';
}

/** A table definition: property list or multicolumn table. */
export interface TableTemplate {
  id: string;
  label: string;
  prefix: string;
  type?: 'property-list' | 'multicolumn-table';
  columns?: TableColumn[];
  fixedRows?: Record<string, string>;
}

/** A control button definition. */
export interface Control {
  id: string;
  human: string;
  icon: string;
  rank: number;
  confirmation?: string;
}

/** A topology as sent to Scope. */
export interface Topology {
  nodes?: Record<string, ReportNode>;
  metadata_templates?: Record<string, MetadataTemplate>;
  metric_templates?: Record<string, MetricTemplate>;
  table_templates?: Record<string, TableTemplate>;
  controls?: Record<string, Control>;
}

/** The spec Scope requires, exactly one per report. */
export interface PluginSpec {
  id: string;
  label: string;
  description?: string;
  interfaces: Array<'reporter' | 'controller'>;
  api_version: '1';
}

/** A report body without the spec: what a plugin's collector produces. */
export type ReportTopologies = Partial<Record<TopologyKey, Topology>>;

/** A full `/report` body. */
export type Report = { Plugins: PluginSpec[] } & ReportTopologies;

/** Static per-topology definitions: templates and controls given as lists (each keyed by its own id). */
export interface TopologyTemplates {
  metadataTemplates?: MetadataTemplate[];
  metricTemplates?: MetricTemplate[];
  tableTemplates?: TableTemplate[];
  controls?: Control[];
}
