/**
 * host-namespaces: every Linux namespace on the host as a multicolumn table on the host node (like lsns),
 * and, when Docker is reachable, which namespaces each container shares with the host.
 */
import { definePlugin, hostNodeId, parsePositiveInt, type PluginOption } from '@scope-plugins/core';
import { createNamespaceSource, type NamespaceSourceName } from './collect.js';
import { COLUMNS, NAMESPACE_TYPES, buildNamespaceTable, parseTypesOption, type NamespaceType } from './parse.js';

export * from './parse.js';
export * from './collect.js';

/** Plugin id, socket name and key prefix. */
export const PLUGIN_ID = 'host-namespaces';

/** Prefix of the multicolumn table's latest keys; nothing else on the host node may start with it. */
export const TABLE_PREFIX = `${PLUGIN_ID}_ns_`;

/** Host metadata: how many namespaces of the selected types exist (before the row limit). */
export const TOTAL_KEY = `${PLUGIN_ID}_total`;

/** @default 200 */
export const DEFAULT_MAX_ROWS = 200;

/** @default 60 */
export const DEFAULT_COMMAND_MAX_CHARS = 60;

function parseSource(text: string): NamespaceSourceName {
  if (text !== 'proc' && text !== 'lsns') throw new TypeError(`--source must be "proc" or "lsns", got ${JSON.stringify(text)}`);
  return text;
}

/** The plugin's own flags (the common ones come from core). */
export const options: PluginOption[] = [
  {
    flags: '--types <list>',
    description: `comma-separated namespace types to show (${NAMESPACE_TYPES.join(',')})`,
    env: 'HOST_NAMESPACES_TYPES',
    parse: (value) => parseTypesOption(value),
  },
  {
    flags: '--max-rows <n>',
    description: `rows shown in the table; the rest are summed up in a final "N more" row`,
    env: 'HOST_NAMESPACES_MAX_ROWS',
    default: DEFAULT_MAX_ROWS,
    parse: parsePositiveInt('--max-rows'),
  },
  {
    flags: '--command-max-chars <n>',
    description: 'longer commands are shortened with "…" in the Command column (the full text goes to the Full command column)',
    env: 'HOST_NAMESPACES_COMMAND_MAX_CHARS',
    default: DEFAULT_COMMAND_MAX_CHARS,
    parse: parsePositiveInt('--command-max-chars'),
  },
  {
    flags: '--source <name>',
    description: 'where namespaces are read from: "proc" (walk <proc-root>/<pid>/ns, no fork) or "lsns" (util-linux lsns --json)',
    env: 'HOST_NAMESPACES_SOURCE',
    default: 'proc',
    parse: (value) => parseSource(value),
  },
  {
    flags: '--passwd-file <path>',
    description: "user database for owner names (mount the host's /etc/passwd when running in a container)",
    env: 'HOST_NAMESPACES_PASSWD_FILE',
    default: '/etc/passwd',
  },
];

function readTypes(value: unknown): readonly NamespaceType[] {
  if (value === undefined) return NAMESPACE_TYPES;
  if (typeof value === 'string') return parseTypesOption(value);
  if (Array.isArray(value)) return parseTypesOption(value.join(','));
  throw new TypeError(`types must be a comma-separated list of ${NAMESPACE_TYPES.join(', ')}, got ${JSON.stringify(value)}`);
}

function readPositive(name: string, value: unknown, fallback: number): number {
  // Programmatic callers may pass numbers or text; both go through the flag's own validation.
  return value === undefined ? fallback : parsePositiveInt(name)(String(value));
}

/** The host-namespaces plugin definition. */
export const plugin = definePlugin({
  id: PLUGIN_ID,
  label: 'Host namespaces',
  description: 'Every Linux namespace on the host (like lsns), and which namespaces each container shares with the host',
  intervalMs: 1000,
  topologies: {
    Host: {
      metadataTemplates: [{ id: TOTAL_KEY, label: 'Namespaces', dataType: 'number', from: 'latest', priority: 8 }],
      tableTemplates: [
        {
          id: `${PLUGIN_ID}-table`,
          label: 'Namespaces',
          prefix: TABLE_PREFIX,
          type: 'multicolumn-table',
          columns: [
            { id: COLUMNS.ns, label: 'NS', dataType: 'number' },
            { id: COLUMNS.type, label: 'Type' },
            { id: COLUMNS.nprocs, label: '# Procs', dataType: 'number' },
            { id: COLUMNS.pid, label: 'PID', dataType: 'number' },
            { id: COLUMNS.user, label: 'User' },
            { id: COLUMNS.command, label: 'Command' },
            { id: COLUMNS.fullCommand, label: 'Full command' },
          ],
        },
      ],
    },
  },
  options,
  create(ctx) {
    const types = readTypes(ctx.options['types']);
    const maxRows = readPositive('--max-rows', ctx.options['maxRows'], DEFAULT_MAX_ROWS);
    const commandMaxChars = readPositive('--command-max-chars', ctx.options['commandMaxChars'], DEFAULT_COMMAND_MAX_CHARS);
    const sourceName = parseSource(String(ctx.options['source'] ?? 'proc'));
    const passwdPath = String(ctx.options['passwdFile'] ?? '/etc/passwd');
    const source = createNamespaceSource(sourceName, { procRoot: ctx.procRoot, types, passwdPath });
    const log = ctx.log;
    log.info('reading namespaces', { source: sourceName, types: types.join(','), proc_root: ctx.procRoot, max_rows: maxRows });

    return {
      async collect({ report, hostId, signal }) {
        const scan = await source.read(signal);
        const table = buildNamespaceTable(scan.namespaces, { types, maxRows, commandMaxChars });
        log.debug('namespace scan', { source: scan.source, namespaces: scan.namespaces.length, processes: scan.processes, skipped: scan.skipped, hidden: table.hidden });
        for (const { reason } of table.rejected) log.transition(`rejected:${reason}`, 'rejected', 'warn', 'namespace left out of the table', { reason });
        report.topology('Host').node(hostNodeId(hostId)).latest(TOTAL_KEY, table.total).table(TABLE_PREFIX, table.rows);
      },
    };
  },
});
