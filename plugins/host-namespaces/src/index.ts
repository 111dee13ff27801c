/**
 * host-namespaces: every Linux namespace on the host as a multicolumn table on the host node (like lsns),
 * and, when the container runtime (Docker, or containerd/CRI-O through CRI) is reachable, which namespaces each
 * container shares with the host.
 */
import { setTimeout as delay } from 'node:timers/promises';
import { containerNodeId, definePlugin, hostNodeId, parsePositiveInt, type Logger, type PluginOption, type ReportBuilder } from '@scope-plugins/core';
import { containerRuntimeOption, createContainerInventory, isCriContainerRecord, runtimeEndpointOption, type ContainerInventory, type ContainerRuntimeChoice, type RuntimeContainerRecord } from '@scope-plugins/cri';
import { dockerHostOption } from '@scope-plugins/docker';
import { createNamespaceSource, readHostNamespaces, readProcessNamespaces, type NamespaceScan, type NamespaceSourceName } from './collect.js';
import { HOST_NAMESPACES_METRIC_FAMILIES, recordNamespaceMetrics } from './metrics.js';
import {
  COLUMNS,
  DEFAULT_COMMAND_MAX_CHARS,
  NAMESPACE_TYPES,
  buildNamespaceTable,
  compareWithHost,
  parseTypesOption,
  type NamespaceTable,
  type NamespaceType,
} from './parse.js';

export {
  COLUMNS,
  DEFAULT_COMMAND_MAX_CHARS,
  INODE_PAD_WIDTH,
  MORE_ROW_ID,
  NAMESPACE_TYPES,
  NamespaceParseError,
  ROW_COLUMN_SEPARATOR,
  SHARING_TYPES,
  buildNamespaceTable,
  buildRowId,
  compareInodes,
  compareWithHost,
  formatNamespaceList,
  isNamespaceType,
  parseCmdline,
  parseLsnsJson,
  parseNamespaceLink,
  parsePasswd,
  parseStartTime,
  parseTypesOption,
  shortenCommand,
  sortNamespaces,
  validateRowId,
  type ContainerNamespaces,
  type NamespaceRecord,
  type NamespaceTable,
  type NamespaceTableOptions,
  type NamespaceType,
} from './parse.js';
export { HOST_NAMESPACES_METRICS, HOST_NAMESPACES_METRIC_FAMILIES, recordNamespaceMetrics } from './metrics.js';
export {
  NamespaceSourceError,
  SOURCE_ERROR_CODES,
  createNamespaceSource,
  readCommand,
  readHostNamespaces,
  readNamespacesFromProc,
  readNamespacesWithLsns,
  readPids,
  readProcessNamespaces,
  readUserNames,
  type LsnsSourceOptions,
  type NamespaceScan,
  type NamespaceSource,
  type NamespaceSourceName,
  type NamespaceSourceOptions,
  type ProcSourceOptions,
} from './collect.js';
export { DEFAULT_VERIFY_PERIOD_MS, createCachedProcReader, type CachedProcReader, type CachedProcReaderOptions, type CachedReadStats } from './proc-cache.js';

/** Plugin id, socket name and key prefix. */
export const PLUGIN_ID = 'host-namespaces';

/** Prefix of the multicolumn table's latest keys; nothing else on the host node may start with it. */
export const TABLE_PREFIX = `${PLUGIN_ID}_ns_`;

/** Host metadata: how many namespaces of the selected types exist (before the row limit). */
export const TOTAL_KEY = `${PLUGIN_ID}_total`;

/** Container metadata: the namespace types the container shares with the host (`net, pid`), or `none`. */
export const SHARED_KEY = `${PLUGIN_ID}_shared_with_host`;

/** Container property list: one row per namespace type, `<inode>` or `<inode> (host)`. */
export const CONTAINER_NS_PREFIX = `${PLUGIN_ID}_container_ns_`;

/** How long the first collection waits for Docker's first container list. */
export const DOCKER_FIRST_SYNC_WAIT_MS = 1000;

/** @default 200 */
export const DEFAULT_MAX_ROWS = 200;


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
    description: 'longer commands are cut with "…" in the Command column (Scope shows a long cell whole on hover; this bounds the report size)',
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
  containerRuntimeOption,
  runtimeEndpointOption,
  dockerHostOption,
  {
    flags: '--no-docker',
    description: 'do not follow the container runtime, Docker or CRI (no container metadata)',
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
  // New and vanished processes are seen every read; a cached process is re-read at least every 25 s (proc-cache.ts).
  intervalMs: 2000,
  metrics: HOST_NAMESPACES_METRIC_FAMILIES,
  topologies: {
    Host: {
      // Priorities: none collides with the probe's own rows (shared/core PROTOCOL-NOTES.md) or another plugin's.
      metadataTemplates: [{ id: TOTAL_KEY, label: 'Namespaces', dataType: 'number', from: 'latest', priority: 8.5 }],
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
          ],
        },
      ],
    },
    Container: {
      metadataTemplates: [{ id: SHARED_KEY, label: 'Namespaces shared with host', from: 'latest', priority: 3.5 }],
      tableTemplates: [{ id: `${PLUGIN_ID}-container`, label: 'Namespaces', prefix: CONTAINER_NS_PREFIX, type: 'property-list' }],
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
    const inventory =
      ctx.options['docker'] === false
        ? undefined
        : createContainerInventory({
            log,
            signal: ctx.signal,
            runtime: (ctx.options['containerRuntime'] as ContainerRuntimeChoice | undefined) ?? 'auto',
            ...(typeof ctx.options['runtimeEndpoint'] === 'string' ? { endpoint: ctx.options['runtimeEndpoint'] } : {}),
            ...(typeof ctx.options['dockerHost'] === 'string' ? { dockerHost: ctx.options['dockerHost'] } : {}),
          });

    let waitedForDocker = false;
    // The cached source hands back the same scan object while nothing changed: the table is rebuilt only on change.
    let lastScan: NamespaceScan | undefined;
    let table: NamespaceTable | undefined;

    return {
      async collect({ report, hostId, signal, metrics }) {
        const scan = await source.read(signal);
        if (scan !== lastScan || !table) {
          table = buildNamespaceTable(scan.namespaces, { types, maxRows, commandMaxChars });
          lastScan = scan;
        }
        log.debug('namespace scan', { source: scan.source, namespaces: scan.namespaces.length, processes: scan.processes, skipped: scan.skipped, hidden: table.hidden });
        for (const { reason } of table.rejected) log.transition(`rejected:${reason}`, 'rejected', 'warn', 'namespace left out of the table', { reason });
        report.topology('Host').node(hostNodeId(hostId)).latest(TOTAL_KEY, table.total).table(TABLE_PREFIX, table.rows);
        if (inventory) {
          // Only the first collection (what --once prints) waits for the first Docker sync, and briefly: a slow
          // or hanging Docker must never hold back the host table. ready() also settles on failure.
          if (!waitedForDocker && inventory.status().state === 'connecting') {
            waitedForDocker = true;
            await Promise.race([inventory.ready(), delay(DOCKER_FIRST_SYNC_WAIT_MS, undefined, { signal }).catch(() => undefined)]);
          }
          recordNamespaceMetrics(metrics, scan, types, reportContainers(report, inventory, ctx.procRoot, log));
        } else {
          recordNamespaceMetrics(metrics, scan, types, undefined);
        }
      },
      async close() {
        await inventory?.close();
      },
    };
  },
});

/** The namespace types a CRI pod asked to share with the node, in {@link SHARING_TYPES} order. */
const DECLARED_TYPES = [['network', 'net'], ['pid', 'pid'], ['ipc', 'ipc']] as const;

/**
 * For running CRI containers whose namespaces cannot be read (no pid from the runtime, or not in this /proc):
 * what the pod's sandbox declared (host network/PID/IPC), marked as such. Docker containers get nothing here,
 * as before: their sharing is only ever reported from /proc.
 */
function reportDeclaredOnly(report: ReportBuilder, containers: readonly RuntimeContainerRecord[]): void {
  for (const container of containers) {
    if (!isCriContainerRecord(container)) continue;
    const declared = DECLARED_TYPES.filter(([flag]) => container.hostNamespaces[flag]).map(([, type]) => type);
    report
      .topology('Container')
      .node(containerNodeId(container.id))
      .latest(SHARED_KEY, `${declared.length > 0 ? declared.join(', ') : 'none'} (declared by the pod)`);
  }
}

/**
 * Adds, to every running container, its namespaces and the ones it shares with the host. Sharing is decided
 * by comparing inodes under `procRoot` (the container's main pid against pid 1, or kthreadd), which holds
 * whatever flags the container was started with. Nothing is added while Docker is unreachable.
 * Returns, per readable container, the types it shares (for the metrics).
 */
function reportContainers(report: ReportBuilder, inventory: ContainerInventory<RuntimeContainerRecord>, procRoot: string, log: Logger): NamespaceType[][] {
  const sharing: NamespaceType[][] = [];
  const all = [...inventory.containers().values()];
  const running = all.filter((c) => c.running && c.pid > 0);
  reportDeclaredOnly(report, all.filter((c) => c.running && c.pid === 0));
  if (running.length === 0) return sharing;
  const host = readHostNamespaces(procRoot);
  if (!host) {
    log.transition('host-reference', 'unreadable', 'warn', `cannot read the host's namespaces under ${procRoot} (pid 1 or 2): container sharing is not reported; run as root with the host's /proc`);
    return sharing;
  }
  log.transition('host-reference', `pid:${host.pid}`, 'debug', 'host namespaces read', { pid: host.pid });
  let unreadable = 0;
  for (const container of running) {
    const namespaces = readProcessNamespaces(procRoot, container.pid);
    if (!namespaces) {
      // The container stopped since the inventory saw it, or its pid is not in this /proc (no host pid namespace).
      unreadable++;
      reportDeclaredOnly(report, [container]);
      continue;
    }
    const { sharedWithHost } = compareWithHost(namespaces, host.namespaces);
    sharing.push(sharedWithHost);
    const rows: Record<string, string | undefined> = {};
    for (const type of NAMESPACE_TYPES) {
      const inode = namespaces[type];
      if (inode === undefined) continue;
      // The summary above lists exactly the rows marked (host) here.
      rows[type] = inode === host.namespaces[type] ? `${inode} (host)` : inode;
    }
    report
      .topology('Container')
      .node(containerNodeId(container.id))
      .latest(SHARED_KEY, sharedWithHost.length > 0 ? sharedWithHost.join(', ') : 'none')
      .propertyList(CONTAINER_NS_PREFIX, rows);
  }
  const state = unreadable === running.length ? 'none-readable' : 'ok';
  log.transition(
    'container-pids',
    state,
    state === 'ok' ? 'debug' : 'warn',
    state === 'ok' ? 'container namespaces readable' : `no running container's namespaces can be read under ${procRoot}: run in the host pid namespace (--pid=host) with the host's /proc`,
    { containers: running.length, unreadable },
  );
  return sharing;
}
