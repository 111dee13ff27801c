import { CONTROL_ID_PATTERN, hostNodeId } from '../protocol/ids.js';
import {
  PROBE_LATEST_KEYS,
  PROBE_LATEST_PREFIXES,
  PROBE_ONLY_REPORT_KEYS,
  TOPOLOGY_FIELDS,
  TOPOLOGY_NAMES,
  isTopologyKey,
  type TopologyKey,
} from '../protocol/topologies.js';
import { HOST_EXEC_CONTROL, MULTICOLUMN_SEPARATOR } from './builder.js';
import { isRfc3339 } from './rfc3339.js';

/**
 * What a violation does to Scope:
 * - `decode`: the decoder fails, the whole report is dropped (`error: decoding error: …`);
 * - `registry`: the probe's registry rejects the report (spec checks);
 * - `crash`: the probe or app panics;
 * - `lost`: accepted, but the data silently never shows;
 * - `unsafe`: works alone, but breaks Scope or the probe's own data in a common setting;
 * - `note`: harmless (ignored or coerced by the decoder), reported for information.
 */
export type ViolationKind = 'decode' | 'registry' | 'crash' | 'lost' | 'unsafe' | 'note';

/**
 * Findings with a code, for callers that act on them:
 * - `host-exec-hidden`: a host node's active control list lacks the probe's `host_exec`; the guard adds it
 *   instead of deleting the list.
 * - `node-without-id`: a node without `id` that the probe is not known to report (the doctor then reads
 *   `/proc` to learn whether it does).
 */
export type ViolationCode = 'host-exec-hidden' | 'node-without-id';

/** One finding, with the path of the offending part of the report. */
export interface Violation {
  kind: ViolationKind;
  /** Path from the report root; the guard deletes exactly this part (unless `code` says how to repair it). */
  path: Array<string | number>;
  message: string;
  /** Set on findings a caller acts on (see {@link ViolationCode}). */
  code?: ViolationCode;
}

/** Options of {@link inspectReport}. */
export interface InspectOptions {
  /** The socket's plugin id; the spec id must equal it. */
  pluginId?: string;
  /** The host id Scope uses (`$SCOPE_HOSTNAME` or hostname), to check host and process node ids. */
  hostId?: string;
  /**
   * Whether the probe itself reports this node (then a plugin node without `id` merges with the probe's
   * and shows). This host's host node always counts; the doctor adds the live processes and containers.
   */
  probeReports?: (key: TopologyKey, nodeId: string) => boolean;
}

/** Renders a path as `Host.nodes["h;<host>"].latest.k`. */
export function formatPath(path: Array<string | number>): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else if (/^[A-Za-z_][A-Za-z0-9_]*$/.test(part)) out += out === '' ? part : `.${part}`;
    else out += `[${JSON.stringify(part)}]`;
  }
  return out === '' ? '(report)' : out;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isScalar = (v: unknown) => v === null || ['string', 'number', 'boolean'].includes(typeof v);

/** How the Go decoder reads a string field: scalars become text, null/absent becomes "". */
export function decodeString(v: unknown): string | undefined {
  if (v === undefined || v === null) return '';
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') {
    // ugorji formats a JSON float that has a fraction marker as written (1.0 → "1.0").
    return String(v);
  }
  return undefined;
}

const METADATA_DATA_TYPES = ['', 'number', 'ip', 'datetime', 'duration', 'link'];
const METADATA_FROM = ['', 'latest', 'sets', 'counters'];
const TABLE_TYPES = ['', 'property-list', 'multicolumn-table'];
const COLUMN_DATA_TYPES = ['', 'number', 'ip', 'link'];

/*
 * Fast paths: most of a report is well-formed and the same every collection (templates come from the plugin's
 * definition). These predicates say, without allocating, that the full check of a part would find nothing;
 * only the parts they cannot vouch for get the full check (which builds a path per field, for its messages).
 */
const isOptionalString = (v: unknown): boolean => v === undefined || typeof v === 'string';
const isOptionalFinite = (v: unknown): boolean => v === undefined || v === null || (typeof v === 'number' && Number.isFinite(v));
const isOneOfOrAbsent = (v: unknown, values: readonly string[]): boolean => v === undefined || (typeof v === 'string' && values.includes(v));

function isCleanMetadataTemplate(id: string, t: Record<string, unknown>): boolean {
  return (
    t['id'] === id &&
    isOptionalString(t['label']) &&
    isOneOfOrAbsent(t['dataType'], METADATA_DATA_TYPES) &&
    isOneOfOrAbsent(t['from'], METADATA_FROM) &&
    isOptionalFinite(t['priority']) &&
    isOptionalFinite(t['truncate'])
  );
}

function isCleanMetricTemplate(id: string, t: Record<string, unknown>): boolean {
  return t['id'] === id && isOptionalString(t['label']) && isOptionalString(t['format']) && isOptionalString(t['group']) && isOptionalFinite(t['priority']);
}

function isCleanControl(id: string, c: Record<string, unknown>): boolean {
  return (
    CONTROL_ID_PATTERN.test(id) &&
    isOptionalString(c['id']) &&
    isOptionalString(c['human']) &&
    isOptionalString(c['icon']) &&
    isOptionalString(c['confirmation']) &&
    isOptionalString(c['probeId']) &&
    isOptionalFinite(c['rank'])
  );
}

function isCleanColumn(c: unknown): boolean {
  return isObject(c) && typeof c['id'] === 'string' && !c['id'].includes(MULTICOLUMN_SEPARATOR) && isOptionalString(c['label']) && isOneOfOrAbsent(c['dataType'], COLUMN_DATA_TYPES);
}

function isCleanTableTemplate(id: string, t: Record<string, unknown>): boolean {
  const columns = t['columns'];
  const fixedRows = t['fixedRows'];
  return (
    t['id'] === id &&
    isOptionalString(t['label']) &&
    typeof t['prefix'] === 'string' &&
    t['prefix'] !== '' &&
    isOneOfOrAbsent(t['type'], TABLE_TYPES) &&
    (columns === undefined || (Array.isArray(columns) && columns.every(isCleanColumn))) &&
    (fixedRows === undefined || (isObject(fixedRows) && Object.values(fixedRows).every((v) => typeof v === 'string')))
  );
}

/** The probe's own latest keys, as a set (checked for every latest entry of every report). */
const PROBE_LATEST_KEY_SET: ReadonlySet<string> = new Set(PROBE_LATEST_KEYS);

/** A multicolumn key's rest after its prefix (at `from`) is `<row>___<column>`, the row non-empty (the checks of `latestEntry`). */
function isWellFormedCell(key: string, from: number): boolean {
  const at = key.indexOf(MULTICOLUMN_SEPARATOR, from);
  return at > from && key.indexOf(MULTICOLUMN_SEPARATOR, at + MULTICOLUMN_SEPARATOR.length) === -1;
}

class Inspector {
  readonly violations: Violation[] = [];
  readonly #options: InspectOptions;
  /** The last timestamp found valid: a report's entries nearly all share one, so the regex runs once. */
  #goodTimestamp = '';

  constructor(options: InspectOptions) {
    this.#options = options;
  }

  add(kind: ViolationKind, path: Array<string | number>, message: string) {
    this.violations.push({ kind, path, message });
  }

  /** A string field; `required` means an empty or absent value loses the data. */
  string(value: unknown, path: Array<string | number>): string | undefined {
    if (value === undefined) return undefined;
    const text = decodeString(value);
    if (text === undefined) this.add('decode', path, `expected a string, got ${Array.isArray(value) ? 'an array' : 'an object'}`);
    else if (typeof value !== 'string' && value !== null) this.add('note', path, `${JSON.stringify(value)} is decoded as the string ${JSON.stringify(text)}`);
    return text;
  }

  number(value: unknown, path: Array<string | number>): void {
    if (value === undefined || value === null) return;
    if (typeof value === 'number') {
      if (!Number.isFinite(value)) this.add('unsafe', path, `${value} cannot be sent as JSON (it becomes null, shown as 0)`);
      return;
    }
    if (typeof value === 'string' && value.trim() !== '' && Number.isFinite(Number(value))) {
      this.add('note', path, `numeric string ${JSON.stringify(value)} is decoded as a number`);
      return;
    }
    this.add('decode', path, `expected a number, got ${JSON.stringify(value)}`);
  }

  timestamp(value: unknown, path: Array<string | number>): void {
    if (value === undefined || value === null) {
      this.add('lost', path, 'missing timestamp: decoded as 0001-01-01T00:00:00Z, so any other value for this key wins');
      return;
    }
    if (typeof value !== 'string') {
      this.add('decode', path, `timestamp must be an RFC 3339 string, got ${JSON.stringify(value)}`);
      return;
    }
    if (!this.isGoodTimestamp(value)) this.add('decode', path, `timestamp ${JSON.stringify(value)} is not RFC 3339 with a zone`);
  }

  /** A metric the full check in {@link node} would find nothing in (finite bounds, well-formed samples). */
  isCleanMetric(m: Record<string, unknown>): boolean {
    if (!isOptionalFinite(m['min']) || !isOptionalFinite(m['max'])) return false;
    const samples = m['samples'];
    if (samples === undefined || samples === null) return true;
    if (!Array.isArray(samples)) return false;
    for (const sample of samples) {
      if (!isObject(sample) || typeof sample['value'] !== 'number' || !Number.isFinite(sample['value']) || typeof sample['date'] !== 'string' || !this.isGoodTimestamp(sample['date'])) return false;
    }
    return true;
  }

  /** RFC 3339 with a zone; the last good one is remembered (a report's entries nearly all share one). */
  isGoodTimestamp(value: string): boolean {
    if (value === this.#goodTimestamp) return true;
    if (!isRfc3339(value)) return false;
    this.#goodTimestamp = value;
    return true;
  }

  /** An object-or-null map field; returns the object to walk, if any. */
  /** `owner[field]` as {@link map} checks it; the field's path is built only when there is something to say. */
  mapField(owner: Record<string, unknown>, field: string, path: Array<string | number>, what: string): Record<string, unknown> | undefined {
    const value = owner[field];
    if (value === undefined || value === null) return undefined;
    return isObject(value) ? value : this.map(value, [...path, field], what);
  }

  /** `owner[field]` as {@link string} checks it, the path built only when needed. */
  stringField(owner: Record<string, unknown>, field: string, path: Array<string | number>): string | undefined {
    const value = owner[field];
    return value === undefined || typeof value === 'string' ? value : this.string(value, [...path, field]);
  }

  /** `owner[field]` as {@link number} checks it, the path built only when needed. */
  numberField(owner: Record<string, unknown>, field: string, path: Array<string | number>): void {
    const value = owner[field];
    if (!isOptionalFinite(value)) this.number(value, [...path, field]);
  }

  map(value: unknown, path: Array<string | number>, what: string): Record<string, unknown> | undefined {
    if (value === undefined || value === null) return undefined;
    if (!isObject(value)) {
      this.add('decode', path, `${what} must be a JSON object, got ${Array.isArray(value) ? 'an array' : JSON.stringify(value)}`);
      return undefined;
    }
    return value;
  }

  stringList(value: unknown, path: Array<string | number>): void {
    if (value === undefined || value === null) return;
    if (!Array.isArray(value)) {
      this.add('decode', path, 'expected an array of strings');
      return;
    }
    value.forEach((item, i) => this.string(item, [...path, i]));
  }

  report(report: unknown): void {
    if (!isObject(report)) {
      this.add('decode', [], 'a report must be a JSON object');
      return;
    }
    for (const [key, value] of Object.entries(report)) {
      if (key === 'Plugins') this.plugins(value);
      else if (isTopologyKey(key)) this.topology(key, value);
      else if ((PROBE_ONLY_REPORT_KEYS as readonly string[]).includes(key)) {
        this.add('unsafe', [key], `top-level field ${key} belongs to the probe; a plugin must not send it`);
      } else {
        const known = ['Plugins', ...Object.keys(TOPOLOGY_NAMES)].find((k) => k.toLowerCase() === key.toLowerCase());
        if (known) this.add('lost', [key], `key ${JSON.stringify(key)} is ignored: keys are case-sensitive, Scope reads ${JSON.stringify(known)}`);
        else this.add('note', [key], `unknown top-level key ${JSON.stringify(key)} is ignored`);
      }
    }
  }

  plugins(value: unknown): void {
    if (value === null) return;
    if (!Array.isArray(value)) {
      this.add('decode', ['Plugins'], 'Plugins must be an array of specs');
      return;
    }
    value.forEach((spec, i) => {
      const path = ['Plugins', i];
      if (!isObject(spec)) {
        this.add('decode', path, 'a plugin spec must be a JSON object');
        return;
      }
      for (const field of ['id', 'label', 'description', 'api_version', 'status']) this.string(spec[field], [...path, field]);
      if (spec['interfaces'] !== undefined && spec['interfaces'] !== null && !Array.isArray(spec['interfaces'])) {
        this.add('decode', [...path, 'interfaces'], 'interfaces must be an array of strings');
      } else this.stringList(spec['interfaces'], [...path, 'interfaces']);
    });
  }

  topology(key: TopologyKey, value: unknown): void {
    const topology = this.map(value, [key], `topology ${key}`);
    if (!topology) return;
    for (const field of Object.keys(topology)) {
      if (!(TOPOLOGY_FIELDS as readonly string[]).includes(field)) this.add('note', [key, field], `unknown topology field ${JSON.stringify(field)} is ignored`);
    }
    const multicolumnPrefixes = this.tableTemplates(key, topology['table_templates']);
    this.templates(key, topology);
    const controlIds = this.controls(key, topology['controls']);
    const nodes = this.map(topology['nodes'], [key, 'nodes'], 'nodes');
    if (!nodes) return;
    for (const nodeKey in nodes) this.node(key, nodeKey, nodes[nodeKey], multicolumnPrefixes, controlIds);
    this.unnamedRows(key, topology['table_templates'], nodes);
  }

  /**
   * Scope shows a multicolumn table's declared columns only, never the row id, and sorts by the first
   * column: a row without a first-column cell cannot be told apart from the others. Advice only (a note).
   */
  unnamedRows(key: TopologyKey, templates: unknown, nodes: Record<string, unknown>): void {
    if (!isObject(templates)) return;
    for (const t of Object.values(templates)) {
      if (!isObject(t) || t['type'] !== 'multicolumn-table' || typeof t['prefix'] !== 'string' || t['prefix'] === '' || !Array.isArray(t['columns'])) continue;
      const first = isObject(t['columns'][0]) ? decodeString(t['columns'][0]['id']) : undefined;
      if (!first) continue;
      const prefix = t['prefix'];
      for (const nodeKey in nodes) {
        const node = nodes[nodeKey];
        const latest = isObject(node) && isObject(node['latest']) ? node['latest'] : {};
        if (this.allRowsNamed(latest, prefix, first)) continue;
        const rows = new Set<string>();
        const named = new Set<string>();
        for (const k in latest) {
          if (!k.startsWith(prefix)) continue;
          const at = k.indexOf(MULTICOLUMN_SEPARATOR, prefix.length);
          if (at === -1) continue;
          // As split() would: the row is before the first separator, the column up to the next one.
          const row = k.slice(prefix.length, at);
          const next = k.indexOf(MULTICOLUMN_SEPARATOR, at + MULTICOLUMN_SEPARATOR.length);
          const column = k.slice(at + MULTICOLUMN_SEPARATOR.length, next === -1 ? undefined : next);
          rows.add(row);
          if (column === first) named.add(row);
        }
        const unnamed = [...rows].filter((row) => !named.has(row)).sort();
        if (unnamed.length > 0) {
          this.add('note', [key, 'nodes', nodeKey, 'latest'], `table ${JSON.stringify(t['id'])}: row(s) ${unnamed.map((r) => JSON.stringify(r)).join(', ')} have no cell in the first column ${JSON.stringify(first)}; Scope never shows row ids, so a user cannot tell which row is which`);
        }
      }
    }
  }

  /**
   * Fast check for {@link unnamedRows}: true when every cell outside the first column has its row's
   * first-column cell (`<prefix><row>___<first>`) beside it. False sends the node to the full count.
   */
  allRowsNamed(latest: Record<string, unknown>, prefix: string, first: string): boolean {
    for (const k in latest) {
      if (!k.startsWith(prefix)) continue;
      const at = k.indexOf(MULTICOLUMN_SEPARATOR, prefix.length);
      if (at === -1) continue;
      const columnAt = at + MULTICOLUMN_SEPARATOR.length;
      const next = k.indexOf(MULTICOLUMN_SEPARATOR, columnAt);
      const columnEnd = next === -1 ? k.length : next;
      if (columnEnd - columnAt === first.length && k.startsWith(first, columnAt)) continue;
      if (!(`${k.slice(0, columnAt)}${first}` in latest)) return false;
    }
    return true;
  }

  tableTemplates(key: TopologyKey, value: unknown): string[] {
    const templates = this.map(value, [key, 'table_templates'], 'table_templates');
    const prefixes: string[] = [];
    if (!templates) return prefixes;
    for (const [id, template] of Object.entries(templates)) {
      if (isObject(template) && isCleanTableTemplate(id, template)) {
        if (template['type'] === 'multicolumn-table') prefixes.push(template['prefix'] as string);
        continue;
      }
      const path = [key, 'table_templates', id];
      const t = this.map(template, path, 'a table template');
      if (!t) continue;
      for (const field of ['id', 'label', 'prefix', 'type']) this.string(t[field], [...path, field]);
      const prefix = decodeString(t['prefix']) ?? '';
      const type = decodeString(t['type']) ?? '';
      if (decodeString(t['id']) !== id) this.add('lost', [...path, 'id'], `table template id ${JSON.stringify(t['id'])} must equal its key ${JSON.stringify(id)}`);
      if (prefix === '') this.add('lost', [...path, 'prefix'], 'table template prefix is empty: it matches nothing');
      if (!TABLE_TYPES.includes(type)) this.add('lost', [...path, 'type'], `unknown table type ${JSON.stringify(type)}`);
      if (type === 'multicolumn-table' && prefix !== '') prefixes.push(prefix);
      if (t['columns'] !== undefined && t['columns'] !== null) {
        if (!Array.isArray(t['columns'])) this.add('decode', [...path, 'columns'], 'columns must be an array');
        else {
          t['columns'].forEach((column, i) => {
            const c = this.map(column, [...path, 'columns', i], 'a column');
            if (!c) return;
            for (const field of ['id', 'label', 'dataType']) this.string(c[field], [...path, 'columns', i, field]);
            const columnId = decodeString(c['id']) ?? '';
            if (columnId.includes(MULTICOLUMN_SEPARATOR)) this.add('lost', [...path, 'columns', i, 'id'], `column id ${JSON.stringify(columnId)} contains ${MULTICOLUMN_SEPARATOR}`);
            if (!COLUMN_DATA_TYPES.includes(decodeString(c['dataType']) ?? '')) this.add('note', [...path, 'columns', i, 'dataType'], `unknown column dataType ${JSON.stringify(c['dataType'])} is shown as text`);
          });
        }
      }
      const fixedRows = this.map(t['fixedRows'], [...path, 'fixedRows'], 'fixedRows');
      if (fixedRows) for (const [k, v] of Object.entries(fixedRows)) this.string(v, [...path, 'fixedRows', k]);
    }
    return prefixes;
  }

  templates(key: TopologyKey, topology: Record<string, unknown>): void {
    for (const field of ['metadata_templates', 'metric_templates'] as const) {
      const templates = this.map(topology[field], [key, field], field);
      if (!templates) continue;
      for (const [id, template] of Object.entries(templates)) {
        if (isObject(template) && (field === 'metadata_templates' ? isCleanMetadataTemplate(id, template) : isCleanMetricTemplate(id, template))) continue;
        const path = [key, field, id];
        const t = this.map(template, path, 'a template');
        if (!t) continue;
        const stringFields = field === 'metadata_templates' ? ['id', 'label', 'dataType', 'from'] : ['id', 'label', 'format', 'group'];
        for (const f of stringFields) this.string(t[f], [...path, f]);
        this.number(t['priority'], [...path, 'priority']);
        if (field === 'metadata_templates') this.number(t['truncate'], [...path, 'truncate']);
        if (decodeString(t['id']) !== id) this.add('lost', [...path, 'id'], `template id ${JSON.stringify(t['id'])} must equal its key ${JSON.stringify(id)}: Scope looks templates up by id`);
        if (field === 'metadata_templates') {
          if (!METADATA_DATA_TYPES.includes(decodeString(t['dataType']) ?? '')) this.add('note', [...path, 'dataType'], `unknown dataType ${JSON.stringify(t['dataType'])} is shown as text`);
          if (!METADATA_FROM.includes(decodeString(t['from']) ?? '')) this.add('lost', [...path, 'from'], `unknown from ${JSON.stringify(t['from'])}: the row never shows`);
        }
      }
    }
  }

  controls(key: TopologyKey, value: unknown): Set<string> {
    const ids = new Set<string>();
    const controls = this.map(value, [key, 'controls'], 'controls');
    if (!controls) return ids;
    for (const [id, control] of Object.entries(controls)) {
      if (isObject(control) && isCleanControl(id, control)) {
        ids.add(id);
        continue;
      }
      const path = [key, 'controls', id];
      const c = this.map(control, path, 'a control');
      if (!c) continue;
      for (const f of ['id', 'human', 'icon', 'confirmation', 'probeId']) this.string(c[f], [...path, f]);
      this.number(c['rank'], [...path, 'rank']);
      if (!CONTROL_ID_PATTERN.test(id)) this.add('unsafe', path, `control id ${JSON.stringify(id)} must match ${CONTROL_ID_PATTERN} (';' separates active_controls)`);
      else ids.add(id);
    }
    return ids;
  }

  /** True when the probe reports this node itself, so a plugin node merges into it. */
  probeReports(key: TopologyKey, nodeId: string): boolean {
    const hostId = this.#options.hostId;
    if (key === 'Host' && hostId !== undefined && nodeId === hostNodeId(hostId)) return true;
    return this.#options.probeReports?.(key, nodeId) ?? false;
  }

  /**
   * Scope v1.13.2 keeps one `active_controls` entry per node (newest wins), and a plugin's list is
   * re-stamped at every poll: on this host's host node it replaces the probe's list, hiding the
   * probe's "Exec shell" (`host_exec`) unless the plugin lists it too.
   */
  hostExec(nodeKey: string, node: Record<string, unknown>, path: Array<string | number>): void {
    const hostId = this.#options.hostId;
    if (hostId !== undefined && nodeKey !== hostNodeId(hostId)) return;
    const latestControls = isObject(node['latestControls']) ? node['latestControls'] : undefined;
    const activeEntry = isObject(node['latest']) && isObject(node['latest']['active_controls']) ? node['latest']['active_controls'] : undefined;
    let list: string[];
    let at: Array<string | number>;
    // The legacy map, when present, overwrites active_controls in the v1.13 decoder.
    if (latestControls && Object.keys(latestControls).length > 0) {
      list = Object.entries(latestControls).filter(([, e]) => !(isObject(e) && isObject(e['value']) && e['value']['dead'] === true)).map(([k]) => k);
      if (list.length === 0) return;
      at = [...path, 'latestControls'];
    } else if (activeEntry) {
      list = (decodeString(activeEntry['value']) ?? '').split(';').filter((c) => c !== '');
      at = [...path, 'latest', 'active_controls'];
    } else return;
    if (list.includes(HOST_EXEC_CONTROL)) return;
    const fixed = [...list, HOST_EXEC_CONTROL].join(';');
    const fix = latestControls
      ? `list it too: ${HOST_EXEC_CONTROL}: {"dead": false} in latestControls${activeEntry ? ` and active_controls ${JSON.stringify(fixed)}` : ''}`
      : `list it too: active_controls ${JSON.stringify(fixed)}`;
    this.violations.push({
      kind: 'lost',
      path: at,
      code: 'host-exec-hidden',
      message: `this host node's control list (${JSON.stringify(list.join(';'))}) replaces the probe's in Scope v1.13.2 and hides its "Exec shell" button (${HOST_EXEC_CONTROL}); fix: ${fix}`,
    });
  }

  nodeId(key: TopologyKey, id: string, path: Array<string | number>): void {
    const hostId = this.#options.hostId;
    const separator = id.indexOf(';');
    if (separator < 0) {
      this.add('lost', path, `node id ${JSON.stringify(id)} has no ';': it matches no ${TOPOLOGY_NAMES[key]} node`);
      return;
    }
    const head = id.slice(0, separator);
    const tail = id.slice(separator + 1);
    const expectTag = (tag: string) => {
      if (tail !== tag) this.add('lost', path, `${key} node ids end in ;${tag}, got ${JSON.stringify(id)}`);
    };
    if (key === 'Host') {
      expectTag('<host>');
      if (hostId !== undefined && head !== hostId) this.add('lost', path, `host node ${JSON.stringify(id)} is not this host (${JSON.stringify(hostId)}, from $SCOPE_HOSTNAME or the hostname): it stays invisible`);
    } else if (key === 'Container') {
      expectTag('<container>');
      if (!/^[0-9a-f]{64}$/.test(head)) this.add('lost', path, `container node ids use the full 64-hex container id, got ${JSON.stringify(head)}`);
    } else if (key === 'ContainerImage') {
      expectTag('<container_image>');
    } else if (key === 'Process') {
      if (!/^[1-9][0-9]*$/.test(tail)) this.add('lost', path, `process node ids are <hostID>;<pid>, got ${JSON.stringify(id)}`);
      if (hostId !== undefined && head !== hostId) this.add('lost', path, `process node ${JSON.stringify(id)} is not on this host (${JSON.stringify(hostId)})`);
    }
  }

  node(key: TopologyKey, nodeKey: string, value: unknown, multicolumnPrefixes: string[], controlIds: Set<string>): void {
    const path = [key, 'nodes', nodeKey];
    const node = this.map(value, path, 'a node');
    if (!node) return;
    const id = this.stringField(node, 'id', path);
    if (node['id'] === undefined || id === '') {
      if (this.probeReports(key, nodeKey)) {
        this.add('note', path, 'node has no id: it shows because the probe reports the same node and the merge keeps the probe\'s id; send id anyway');
      } else {
        this.violations.push({ kind: 'lost', path, code: 'node-without-id', message: 'node has no id and the probe does not report this node: Scope re-keys it to "" and never shows it' });
      }
    } else if (id !== undefined && id !== nodeKey) {
      this.add('lost', path, `node id ${JSON.stringify(id)} differs from its key ${JSON.stringify(nodeKey)}`);
    }
    this.nodeId(key, nodeKey, path);
    const topology = this.stringField(node, 'topology', path);
    if (topology !== undefined && topology !== '' && topology !== TOPOLOGY_NAMES[key]) {
      this.add('unsafe', [...path, 'topology'], `topology ${JSON.stringify(topology)} must be ${JSON.stringify(TOPOLOGY_NAMES[key])} or absent: two plugins disagreeing on it crash the probe`);
    }

    const latest = this.mapField(node, 'latest', path, 'latest');
    if (latest) {
      for (const k in latest) this.latestEntry(k, latest[k], path, multicolumnPrefixes, controlIds);
    }
    const latestControls = this.mapField(node, 'latestControls', path, 'latestControls');
    if (latestControls) {
      for (const [k, entry] of Object.entries(latestControls)) {
        const entryPath = [...path, 'latestControls', k];
        const e = this.map(entry, entryPath, 'a latestControls entry');
        if (!e) continue;
        this.timestamp(e['timestamp'], [...entryPath, 'timestamp']);
        const v = this.map(e['value'], [...entryPath, 'value'], 'a latestControls value');
        if (v && v['dead'] !== undefined && typeof v['dead'] !== 'boolean' && v['dead'] !== null) this.add('decode', [...entryPath, 'value', 'dead'], 'dead must be a boolean');
      }
    }
    if (key === 'Host') this.hostExec(nodeKey, node, path);
    const counters = this.mapField(node, 'counters', path, 'counters');
    if (counters) for (const [k, v] of Object.entries(counters)) this.number(v, [...path, 'counters', k]);

    const metrics = this.mapField(node, 'metrics', path, 'metrics');
    if (metrics) {
      for (const metricId in metrics) {
        const metric = metrics[metricId];
        if (isObject(metric) && this.isCleanMetric(metric)) continue;
        const metricPath = [...path, 'metrics', metricId];
        const m = this.map(metric, metricPath, 'a metric');
        if (!m) continue;
        this.numberField(m, 'min', metricPath);
        this.numberField(m, 'max', metricPath);
        const samples = m['samples'];
        if (samples === undefined || samples === null) continue;
        if (!Array.isArray(samples)) {
          this.add('decode', [...metricPath, 'samples'], 'samples must be an array');
          continue;
        }
        samples.forEach((sample, i) => {
          if (isObject(sample) && typeof sample['value'] === 'number' && Number.isFinite(sample['value']) && typeof sample['date'] === 'string' && this.isGoodTimestamp(sample['date'])) return;
          const s = this.map(sample, [...metricPath, 'samples', i], 'a sample');
          if (!s) return;
          this.timestamp(s['date'], [...metricPath, 'samples', i, 'date']);
          this.number(s['value'], [...metricPath, 'samples', i, 'value']);
        });
      }
    }
    for (const field of ['sets', 'parents'] as const) {
      const map = this.mapField(node, field, path, field);
      if (map) for (const [k, v] of Object.entries(map)) this.stringList(v, [...path, field, k]);
    }
    this.stringList(node['adjacency'], [...path, 'adjacency']);
  }

  /**
   * One latest entry of the node at `nodePath`. The common entry (an object with a valid string timestamp
   * and a string value, under a key no rule concerns) returns before any path is built: reports carry
   * thousands of entries, and the full check below allocates per entry.
   */
  latestEntry(key: string, value: unknown, nodePath: Array<string | number>, multicolumnPrefixes: string[], controlIds: Set<string>): void {
    if (isObject(value) && typeof value['value'] === 'string' && typeof value['timestamp'] === 'string' && value['timestamp'] === this.#goodTimestamp && key !== 'active_controls' && !PROBE_LATEST_KEY_SET.has(key)) {
      let plain = true;
      for (const prefix of multicolumnPrefixes) if (key.startsWith(prefix) && !isWellFormedCell(key, prefix.length)) plain = false;
      for (const prefix of PROBE_LATEST_PREFIXES) if (key.startsWith(prefix)) plain = false;
      if (plain) return;
    }
    const path = [...nodePath, 'latest', key];
    const entry = this.map(value, path, 'a latest entry');
    if (!entry) return;
    this.timestamp(entry['timestamp'], [...path, 'timestamp']);
    const text = this.string(entry['value'], [...path, 'value']);
    for (const prefix of multicolumnPrefixes) {
      if (!key.startsWith(prefix)) continue;
      const rest = key.slice(prefix.length);
      const parts = rest.split(MULTICOLUMN_SEPARATOR);
      if (parts.length < 2) {
        this.add('crash', path, `latest key ${JSON.stringify(key)} starts with the multicolumn prefix ${JSON.stringify(prefix)} but has no ${MULTICOLUMN_SEPARATOR}: the Scope app panics rendering this topology`);
      } else if (parts.length > 2 || parts[0] === '') {
        this.add('lost', path, `latest key ${JSON.stringify(key)}: a row id must be non-empty and must not contain ${MULTICOLUMN_SEPARATOR}`);
      }
    }
    if (PROBE_LATEST_KEY_SET.has(key) || PROBE_LATEST_PREFIXES.some((p) => key.startsWith(p))) {
      this.add('unsafe', path, `latest key ${JSON.stringify(key)} belongs to the probe: a plugin value overwrites the probe's`);
    }
    if (key === 'active_controls' && text !== undefined && text !== '') {
      for (const id of text.split(';')) {
        if (!controlIds.has(id) && id !== HOST_EXEC_CONTROL) this.add('note', path, `active control ${JSON.stringify(id)} is not in this topology's controls: the probe leaves it unprefixed`);
      }
    }
  }
}

/** Checks a decoded report value against every rule of the Scope v1.13.2 decoder, registry and app. */
export function inspectReport(report: unknown, options: InspectOptions = {}): Violation[] {
  const inspector = new Inspector(options);
  inspector.report(report);
  return inspector.violations;
}

/** The registry's spec checks, in the probe's order; returns the status Scope would show. */
export function registryStatus(report: unknown, pluginId: string | undefined): string {
  const specs = isObject(report) && Array.isArray(report['Plugins']) ? report['Plugins'] : [];
  if (specs.length !== 1) return `error: report must contain exactly one plugin (found ${specs.length})`;
  const spec = specs[0] as Record<string, unknown>;
  const id = decodeString(spec['id']) ?? '';
  if (pluginId !== undefined && id !== pluginId) return `error: plugin must not change its id (is ${JSON.stringify(id)}, should be ${JSON.stringify(pluginId)})`;
  const apiVersion = decodeString(spec['api_version']) ?? '';
  if (apiVersion !== '1') return `error: incorrect API version: expected "1", got ${JSON.stringify(apiVersion)}`;
  if ((decodeString(spec['label']) ?? '') === '') return 'error: spec must contain a label';
  const interfaces = Array.isArray(spec['interfaces']) ? spec['interfaces'].map((i) => decodeString(i)) : [];
  if (!interfaces.includes('reporter')) return 'error: spec must implement the "reporter" interface';
  return 'ok';
}

/** The status the Scope probe would show for this decoded report, and every violation found. */
export function diagnoseDecoded(report: unknown, options: InspectOptions = {}): { status: string; violations: Violation[] } {
  const violations = inspectReport(report, options);
  const decode = violations.find((v) => v.kind === 'decode');
  if (decode) return { status: `error: decoding error: ${formatPath(decode.path)}: ${decode.message}`, violations };
  const status = registryStatus(report, options.pluginId);
  if (status !== 'ok') violations.push({ kind: 'registry', path: ['Plugins'], message: status.replace(/^error: /, '') });
  return { status, violations };
}
