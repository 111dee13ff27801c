/**
 * @scope-plugins/iowait: the host's CPU I/O wait (or idle) as a Scope metric, computed from
 * /proc/stat deltas, with the original plugin's switch controls, PSI io rows and a block device table.
 */
import { createMetricWindow, definePlugin, hostNodeId, type OptionSchema, type TableRows } from '@scope-plugins/core';
import { createIowaitReader, readBlockDeviceInfo } from './collect.js';
import { DEFAULT_DISK_EXCLUDE, diskRowId, formatNumber } from './parse.js';
import { IOWAIT_METRIC_FAMILIES, recordIowaitMetrics } from './metrics.js';

// Parsers stay internal (tested from their own module); the index names what a user or a suite needs.
export { DEFAULT_DISK_EXCLUDE, type CpuShares, type DiskRates, type Psi } from './parse.js';
export { IOWAIT_METRICS, IOWAIT_METRIC_FAMILIES, MAX_DISK_SERIES, recordIowaitMetrics } from './metrics.js';
export { createIowaitReader, readBlockDeviceInfo, type DiskInfo, type DiskRow, type HostSample, type IowaitReader, type IowaitReaderOptions } from './collect.js';

/** Metric ids, as the original plugin (weaveworks-plugins/scope-iowait) used them. */
export const IOWAIT_METRIC = 'iowait';
/** Metric id of the idle graph. */
export const IDLE_METRIC = 'idle';
/** Control shown in idle mode. */
export const SWITCH_TO_IOWAIT = 'switchToIOWait';
/** Control shown in iowait mode. */
export const SWITCH_TO_IDLE = 'switchToIdle';
/** Prefix of the block device table's latest keys. */
export const DISK_TABLE_PREFIX = 'iowait_disk_';

/** Which metric the host node carries. */
export type IowaitMode = typeof IOWAIT_METRIC | typeof IDLE_METRIC;

/** Metadata latest keys (none starts with {@link DISK_TABLE_PREFIX}). */
export const LATEST_KEYS = {
  mode: 'iowait_mode',
  iowait: 'iowait_iowait_percent',
  idle: 'iowait_idle_percent',
  psiSome: 'iowait_psi_some_avg10',
  psiFull: 'iowait_psi_full_avg10',
} as const;

/** Column ids of the block device table. */
export const DISK_COLUMNS = {
  device: 'device',
  readsPerSec: 'reads_per_sec',
  writesPerSec: 'writes_per_sec',
  utilPercent: 'util_percent',
  avgWaitMs: 'avg_wait_ms',
  sizeGib: 'size_gib',
  kind: 'kind',
} as const;

function validateRegex(value: string): void {
  try {
    new RegExp(value);
  } catch (cause) {
    throw new TypeError(`not a valid regular expression`, { cause });
  }
}

/** The `--disk-exclude` text as the reader uses it: a pattern, or undefined for "" (keep every device). */
export function diskExcludePattern(text: string): RegExp | undefined {
  return text === '' ? undefined : new RegExp(text);
}

/** The plugin's options: `--mode` in `scope-iowait`, `--iowait.mode` in the suite, env `SCOPE_IOWAIT_MODE`, ... */
export const IOWAIT_OPTIONS = {
  mode: { type: 'enum', values: [IOWAIT_METRIC, IDLE_METRIC], default: IOWAIT_METRIC, description: 'metric shown at start', deprecatedFlags: ['iowait-mode'] },
  windowMs: { type: 'number', integer: true, min: 1000, unit: 'ms', default: 60_000, description: 'history kept per metric', deprecatedFlags: ['iowait-window-ms'] },
  diskExclude: {
    type: 'string',
    allowEmpty: true,
    placeholder: 'regex',
    default: DEFAULT_DISK_EXCLUDE,
    validate: validateRegex,
    description: 'block devices left out of the table ("" keeps all)',
    deprecatedFlags: ['disk-exclude'],
  },
  diskPartitions: { type: 'boolean', default: false, description: 'show partitions in the block device table', deprecatedFlags: ['disk-partitions'] },
  diskInfo: { type: 'boolean', default: true, description: 'size/kind columns (read from <sys-root>/class/block)', deprecatedFlags: ['disk-info'] },
} as const satisfies OptionSchema;

const GIB = 1024 ** 3;

/** The iowait plugin definition. */
export const plugin = definePlugin({
  id: 'iowait',
  label: 'IO Wait',
  description: 'CPU I/O wait or idle of the host, from /proc/stat deltas; PSI io and block devices',
  intervalMs: 1000,
  // Shares need two reads: --once collects twice, one interval apart.
  onceCollects: 2,
  metrics: IOWAIT_METRIC_FAMILIES,
  topologies: {
    Host: {
      metricTemplates: [
        { id: IOWAIT_METRIC, label: 'IO Wait', format: 'percent', priority: 0.1 },
        { id: IDLE_METRIC, label: 'Idle', format: 'percent', priority: 0.1 },
      ],
      metadataTemplates: [
        { id: LATEST_KEYS.iowait, label: 'IO wait %', dataType: 'number', from: 'latest', priority: 1.1 },
        { id: LATEST_KEYS.idle, label: 'Idle %', dataType: 'number', from: 'latest', priority: 1.2 },
        { id: LATEST_KEYS.psiSome, label: 'IO pressure some (avg10) %', dataType: 'number', from: 'latest', priority: 1.3 },
        { id: LATEST_KEYS.psiFull, label: 'IO pressure full (avg10) %', dataType: 'number', from: 'latest', priority: 1.4 },
      ],
      tableTemplates: [
        {
          id: 'iowait-disks',
          label: 'Block devices',
          prefix: DISK_TABLE_PREFIX,
          type: 'multicolumn-table',
          columns: [
            { id: DISK_COLUMNS.device, label: 'Device' },
            { id: DISK_COLUMNS.readsPerSec, label: 'Reads/s', dataType: 'number' },
            { id: DISK_COLUMNS.writesPerSec, label: 'Writes/s', dataType: 'number' },
            { id: DISK_COLUMNS.utilPercent, label: 'Util %', dataType: 'number' },
            { id: DISK_COLUMNS.avgWaitMs, label: 'Avg wait ms', dataType: 'number' },
            { id: DISK_COLUMNS.sizeGib, label: 'Size GiB', dataType: 'number' },
            { id: DISK_COLUMNS.kind, label: 'Kind' },
          ],
        },
      ],
      // Same ids as the original; its Font Awesome 4 icons (fa-clock-o, fa-gears) do not exist in FA5.
      controls: [
        { id: SWITCH_TO_IOWAIT, human: 'Switch to IO wait', icon: 'fa-clock', rank: 1 },
        { id: SWITCH_TO_IDLE, human: 'Switch to idle', icon: 'fa-cogs', rank: 1 },
      ],
    },
  },
  options: IOWAIT_OPTIONS,
  create(ctx) {
    const options = ctx.options;
    let mode: IowaitMode = options.mode;
    const windows = {
      [IOWAIT_METRIC]: createMetricWindow({ windowMs: options.windowMs, min: 0, max: 100 }),
      [IDLE_METRIC]: createMetricWindow({ windowMs: options.windowMs, min: 0, max: 100 }),
    };
    const reader = createIowaitReader({
      procRoot: ctx.procRoot,
      sysRoot: ctx.sysRoot,
      log: ctx.log,
      diskExclude: diskExcludePattern(options.diskExclude),
      includePartitions: options.diskPartitions,
      readDiskInfo: options.diskInfo ? () => readBlockDeviceInfo(ctx.sysRoot) : undefined,
    });
    return {
      async collect({ report, now, hostId, metrics, warmup }) {
        const sample = await reader.read();
        // Waking from idle: the read above moved the baseline to now; a share over the whole pause goes nowhere.
        if (warmup) return;
        recordIowaitMetrics(metrics, sample);
        // Both histories grow whatever the mode, so a switch shows a full graph at once.
        if (sample.fresh && sample.cpu) {
          windows[IOWAIT_METRIC].push(sample.cpu.percent.iowait, now);
          windows[IDLE_METRIC].push(sample.cpu.percent.idle, now);
        }
        const node = report.topology('Host').node(hostNodeId(hostId));
        // Machine-readable only (no template, so no row): the graph's own label already reads "IO Wait" or "Idle".
        node.latest(LATEST_KEYS.mode, mode);
        if (sample.cpu) {
          node.latest(LATEST_KEYS.iowait, formatNumber(sample.cpu.percent.iowait)).latest(LATEST_KEYS.idle, formatNumber(sample.cpu.percent.idle));
        }
        if (sample.psi) {
          node.latest(LATEST_KEYS.psiSome, formatNumber(sample.psi.some.avg10));
          if (sample.psi.full) node.latest(LATEST_KEYS.psiFull, formatNumber(sample.psi.full.avg10));
        }
        if (sample.disks) {
          const rows: TableRows = {};
          for (const disk of sample.disks) {
            rows[diskRowId(disk.name)] = {
              [DISK_COLUMNS.device]: disk.name,
              [DISK_COLUMNS.readsPerSec]: formatNumber(disk.readsPerSec, 1),
              [DISK_COLUMNS.writesPerSec]: formatNumber(disk.writesPerSec, 1),
              [DISK_COLUMNS.utilPercent]: formatNumber(disk.utilPercent, 1),
              [DISK_COLUMNS.avgWaitMs]: formatNumber(disk.avgWaitMs, 2),
              [DISK_COLUMNS.sizeGib]: disk.info ? formatNumber(disk.info.sizeBytes / GIB, 1) : undefined,
              [DISK_COLUMNS.kind]: disk.info?.physical || undefined,
            };
          }
          node.table(DISK_TABLE_PREFIX, rows);
        }
        node.metricValue(mode, windows[mode].toMetric(now));
        node.activeControls([mode === IOWAIT_METRIC ? SWITCH_TO_IDLE : SWITCH_TO_IOWAIT]);
      },
      control(request) {
        // Core has checked the control is the one active on this node; the shortcut report follows.
        mode = request.control === SWITCH_TO_IOWAIT ? IOWAIT_METRIC : IDLE_METRIC;
        return { value: { mode } };
      },
      close: () => reader.close(),
    };
  },
});
