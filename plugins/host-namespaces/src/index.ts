/**
 * host-namespaces: every Linux namespace on the host as a multicolumn table on the host node (like lsns),
 * and, when the container runtime (Docker, or containerd/CRI-O through CRI) is reachable, which namespaces each
 * container shares with the host.
 */
import { UNCHANGED, containerNodeId, definePlugin, hostNodeId, type Logger, type OptionSchema, type ReportBuilder } from '@scope-plugins/core';
import { acquireContainerInventory, containerRuntimeOptions, isCriContainerRecord, type ContainerInventory, type RuntimeContainerRecord } from '@scope-plugins/cri';
import { dockerOptions } from '@scope-plugins/docker';
import { createNamespaceSource, readProcessNamespaces, type NamespaceScan, type NamespaceSource } from './collect.js';
import { HOST_NAMESPACES_METRIC_FAMILIES, recordNamespaceMetrics } from './metrics.js';
import { COLUMNS, DEFAULT_COMMAND_MAX_CHARS, NAMESPACE_TYPES, compareWithHost, type NamespaceTable, type NamespaceType } from './parse.js';
import { createNamespaceTableCache } from './table-cache.js';

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
export { createNamespaceTableCache, type NamespaceTableCache } from './table-cache.js';

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
 * How long a change of process counts alone may wait before it is shown, when it comes only from processes
 * starting or exiting (no row comes or goes, no lowest pid, owner or command changes, no process moved in place).
 * @default 10000
 */
export const DEFAULT_COUNT_HOLD_MS = 10_000;


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
  countHoldMs: {
    type: 'number',
    integer: true,
    min: 0,
    unit: 'ms',
    default: DEFAULT_COUNT_HOLD_MS,
    description:
      'a change of # Procs caused only by processes starting or exiting is shown at most this late (0: at once); new or vanished namespaces and other changes are shown at once',
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
    const { types, maxRows, commandMaxChars, countHoldMs, source: sourceName, passwdFile: passwdPath } = ctx.options;
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

    // The cached source hands back the same scan object while nothing changed, and the table cache the same table
    // while nothing shown changed: then, with the same containers, core is told the report is unchanged.
    const tables = createNamespaceTableCache({ types, maxRows, commandMaxChars });
    let lastScan: NamespaceScan | undefined;
    let table: NamespaceTable | undefined;
    /** When the current table was built (its counts were exact then), and the source's in-place change total then. */
    let builtAt = 0;
    let builtInPlace: number | undefined;
    /** What the last published report showed: its table object and its containers' part. */
    let published: { table: NamespaceTable; containers: string } | undefined;

    return {
      async collect({ report, now: collectedAt, hostId, signal, metrics, warmup }) {
        const scan = await source.read(signal);
        // Short-lived processes move the counts of the host's namespaces on nearly every collection, and each move
        // would make core rebuild, guard and serialize the whole table: such a change waits up to countHoldMs. A
        // process that moved in place (counted by the source) or any change of rows, pids, owners or commands does not.
        const now = collectedAt.getTime();
        const holdCounts = countHoldMs > 0 && scan.inPlaceChanges !== undefined && scan.inPlaceChanges === builtInPlace && now - builtAt < countHoldMs;
        if (scan !== lastScan || !table || (tables.holding && !holdCounts)) {
          const next = tables.build(scan.namespaces, { holdCounts });
          if (next !== table) builtAt = now;
          // Not holding: the table shows everything the source has counted so far.
          if (!tables.holding) builtInPlace = scan.inPlaceChanges;
          table = next;
          lastScan = scan;
          for (const { reason } of table.rejected) log.transition(`rejected:${reason}`, 'rejected', 'warn', 'namespace left out of the table', { reason });
        }
        log.debug('namespace scan', { source: scan.source, namespaces: scan.namespaces.length, processes: scan.processes, skipped: scan.skipped, hidden: table.hidden });
        // Containers appear once Docker's first list is in: a slow or hanging Docker never holds back the host table.
        const containers = inventory ? readContainers(inventory, source, ctx.procRoot, log) : undefined;
        recordNamespaceMetrics(metrics, scan, types, containers?.sharing);
        const containersKey = containers?.key ?? '';
        // The metrics above are written every time (they count hidden rows too); core's hub keeps them with UNCHANGED.
        if (published && published.table === table && published.containers === containersKey) return UNCHANGED;
        report.topology('Host').node(hostNodeId(hostId)).latest(TOTAL_KEY, table.total).table(TABLE_PREFIX, table.rows);
        if (containers) writeContainers(report, containers.nodes);
        // A warm-up collection is not published, so it cannot be the report an UNCHANGED refers to.
        published = warmup ? undefined : { table, containers: containersKey };
        return undefined;
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

/** What one container node gets: its "shared with host" value and, when its namespaces were read, their rows. */
interface ContainerNode {
  id: string;
  shared: string;
  rows?: Record<string, string>;
}

/**
 * For running CRI containers whose namespaces cannot be read (no pid from the runtime, or not in this /proc):
 * what the pod's sandbox declared (host network/PID/IPC), marked as such. Docker containers get nothing here,
 * as before: their sharing is only ever reported from /proc.
 */
function declaredOnly(container: RuntimeContainerRecord): ContainerNode | undefined {
  if (!isCriContainerRecord(container)) return undefined;
  const declared = DECLARED_TYPES.filter(([flag]) => container.hostNamespaces[flag]).map(([, type]) => type);
  return { id: container.id, shared: `${declared.length > 0 ? declared.join(', ') : 'none'} (declared by the pod)` };
}

/**
 * A process's namespaces: from the source's cache when it knows the pid (read in this collection or checked within
 * its verification period, see proc-cache.ts), else read now.
 */
function namespacesOf(source: NamespaceSource, procRoot: string, pid: number): Partial<Record<NamespaceType, string>> | undefined {
  const cached = source.namespacesOf?.(pid);
  // null: known and unreadable (this VM's pid 1): not tried again every collection, each try throws eight times.
  return cached === undefined ? readProcessNamespaces(procRoot, pid) : (cached ?? undefined);
}

/**
 * Every running container's namespaces and the ones it shares with the host. Sharing is decided by comparing
 * inodes under `procRoot` (the container's main pid against pid 1, or kthreadd), which holds whatever flags the
 * container was started with. Nothing while Docker is unreachable. Returns the nodes, a key that is equal when
 * the nodes are, and, per readable container, the types it shares (for the metrics).
 */
function readContainers(inventory: ContainerInventory<RuntimeContainerRecord>, source: NamespaceSource, procRoot: string, log: Logger): { nodes: ContainerNode[]; key: string; sharing: NamespaceType[][] } {
  const nodes: ContainerNode[] = [];
  const sharing: NamespaceType[][] = [];
  const running: RuntimeContainerRecord[] = [];
  for (const container of inventory.containers().values()) {
    if (!container.running) continue;
    if (container.pid > 0) running.push(container);
    else {
      const node = declaredOnly(container);
      if (node) nodes.push(node);
    }
  }
  const done = () => ({ nodes, sharing, key: JSON.stringify(nodes) });
  if (running.length === 0) return done();
  // The host's namespaces are those of pid 1, or of pid 2 (kthreadd) where pid 1 cannot be read.
  let hostPid = 1;
  let host = namespacesOf(source, procRoot, hostPid);
  if (!host) host = namespacesOf(source, procRoot, (hostPid = 2));
  if (!host) {
    log.transition('host-reference', 'unreadable', 'warn', `cannot read the host's namespaces under ${procRoot} (pid 1 or 2): container sharing is not reported; run as root with the host's /proc`);
    return done();
  }
  log.transition('host-reference', `pid:${hostPid}`, 'debug', 'host namespaces read', { pid: hostPid });
  let unreadable = 0;
  for (const container of running) {
    const namespaces = namespacesOf(source, procRoot, container.pid);
    if (!namespaces) {
      // The container stopped since the inventory saw it, or its pid is not in this /proc (no host pid namespace).
      unreadable++;
      const node = declaredOnly(container);
      if (node) nodes.push(node);
      continue;
    }
    const { sharedWithHost } = compareWithHost(namespaces, host);
    sharing.push(sharedWithHost);
    const rows: Record<string, string> = {};
    for (const type of NAMESPACE_TYPES) {
      const inode = namespaces[type];
      if (inode === undefined) continue;
      // The summary below lists exactly the rows marked (host) here.
      rows[type] = inode === host[type] ? `${inode} (host)` : inode;
    }
    nodes.push({ id: container.id, shared: sharedWithHost.length > 0 ? sharedWithHost.join(', ') : 'none', rows });
  }
  const state = unreadable === running.length ? 'none-readable' : 'ok';
  log.transition(
    'container-pids',
    state,
    state === 'ok' ? 'debug' : 'warn',
    state === 'ok' ? 'container namespaces readable' : `no running container's namespaces can be read under ${procRoot}: run in the host pid namespace (--pid=host) with the host's /proc`,
    { containers: running.length, unreadable },
  );
  return done();
}

/** Writes the container nodes: the "shared with host" metadata, and the namespaces property list where read. */
function writeContainers(report: ReportBuilder, nodes: readonly ContainerNode[]): void {
  for (const { id, shared, rows } of nodes) {
    const node = report.topology('Container').node(containerNodeId(id)).latest(SHARED_KEY, shared);
    if (rows) node.propertyList(CONTAINER_NS_PREFIX, rows);
  }
}
