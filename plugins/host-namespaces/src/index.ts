/**
 * host-namespaces: every Linux namespace on the host as a multicolumn table on the host node (like lsns),
 * and, when the container runtime (Docker, or containerd/CRI-O through CRI) is reachable, which namespaces each
 * container shares with the host.
 */
import { containerNodeId, definePlugin, hostNodeId, type Logger, type OptionSchema, type ReportBuilder } from '@scope-plugins/core';
import { acquireContainerInventory, containerRuntimeOptions, isCriContainerRecord, type ContainerInventory, type RuntimeContainerRecord } from '@scope-plugins/cri';
import { dockerOptions } from '@scope-plugins/docker';
import { createNamespaceSource, readHostNamespaces, readProcessNamespaces, type NamespaceScan } from './collect.js';
import { HOST_NAMESPACES_METRIC_FAMILIES, recordNamespaceMetrics } from './metrics.js';
import { COLUMNS, DEFAULT_COMMAND_MAX_CHARS, NAMESPACE_TYPES, buildNamespaceTable, compareWithHost, type NamespaceTable, type NamespaceType } from './parse.js';

export {
  COLUMNS,
  DEFAULT_COMMAND_MAX_CHARS,
  INODE_PAD_WIDTH,
  MORE_ROW_ID,
  NAMESPACE_TYPES,
  NamespaceParseError,
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

/** @default 200 */
export const DEFAULT_MAX_ROWS = 200;


/**
 * The plugin's own options (`--max-rows` in `scope-host-namespaces`, `--host-namespaces.max-rows` in the suite,
 * env `SCOPE_HOST_NAMESPACES_MAX_ROWS`), plus the process-wide `--docker-host` and `--docker-resync-ms`.
 */
export const options = {
  types: {
    type: 'list',
    values: NAMESPACE_TYPES,
    default: NAMESPACE_TYPES,
    description: 'comma-separated namespace types to show',
    deprecatedFlags: ['types'],
    deprecatedEnv: ['HOST_NAMESPACES_TYPES'],
  },
  maxRows: {
    type: 'number',
    integer: true,
    min: 1,
    default: DEFAULT_MAX_ROWS,
    description: 'rows shown in the table; the rest are summed up in a final "N more" row',
    deprecatedFlags: ['max-rows'],
    deprecatedEnv: ['HOST_NAMESPACES_MAX_ROWS'],
  },
  commandMaxChars: {
    type: 'number',
    integer: true,
    min: 1,
    default: DEFAULT_COMMAND_MAX_CHARS,
    description: 'longer commands are cut with "…" in the Command column (Scope shows a long cell whole on hover; this bounds the report size)',
    deprecatedFlags: ['command-max-chars'],
    deprecatedEnv: ['HOST_NAMESPACES_COMMAND_MAX_CHARS'],
  },
  source: {
    type: 'enum',
    values: ['proc', 'lsns'],
    default: 'proc',
    description: 'where namespaces are read from: "proc" (walk <proc-root>/<pid>/ns, no fork) or "lsns" (util-linux lsns --json)',
    deprecatedFlags: ['source'],
    deprecatedEnv: ['HOST_NAMESPACES_SOURCE'],
  },
  passwdFile: {
    type: 'string',
    placeholder: 'path',
    default: '/etc/passwd',
    description: "user database for owner names (mount the host's /etc/passwd when running in a container)",
    deprecatedFlags: ['passwd-file'],
    deprecatedEnv: ['HOST_NAMESPACES_PASSWD_FILE'],
  },
  docker: { type: 'boolean', default: true, description: 'follow the container runtime, Docker or CRI (container metadata)', deprecatedFlags: ['docker'] },
  ...containerRuntimeOptions,
  ...dockerOptions,
} as const satisfies OptionSchema;

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
    const { types, maxRows, commandMaxChars, source: sourceName, passwdFile: passwdPath } = ctx.options;
    const source = createNamespaceSource(sourceName, { procRoot: ctx.procRoot, types, passwdPath });
    const log = ctx.log;
    log.info('reading namespaces', { source: sourceName, types: types.join(','), proc_root: ctx.procRoot, max_rows: maxRows });
    // The process's one inventory of this Docker host (or CRI endpoint), shared with volume-count in the suite.
    const inventory = ctx.options.docker
      ? acquireContainerInventory(ctx, {
          runtime: ctx.options.containerRuntime,
          ...(ctx.options.runtimeEndpoint !== undefined ? { endpoint: ctx.options.runtimeEndpoint } : {}),
          dockerHost: ctx.options.dockerHost,
          dockerResyncMs: ctx.options.dockerResyncMs,
        })
      : undefined;

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
        // Containers appear once Docker's first list is in: a slow or hanging Docker never holds back the host table.
        recordNamespaceMetrics(metrics, scan, types, inventory ? reportContainers(report, inventory, ctx.procRoot, log) : undefined);
      },
      // Only --once waits for this (bounded by core), so its single report already lists the containers.
      ready: async () => inventory?.ready(),
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
