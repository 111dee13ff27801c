/** @scope-plugins/core: everything a Weave Scope probe plugin needs, so a plugin is one definition. */
export { ERROR_CODES, ScopePluginError, describeError, type ScopePluginErrorCode } from './errors.js';
export { createBackoff, sleepUnlessAborted, type Backoff, type BackoffOptions } from './util/backoff.js';
export { validatePositiveNumber } from './util/validate.js';
export { HEARTBEAT_MS, heartbeatPeriodMs, onHeartbeat } from './util/heartbeat.js';
export { LOG_LEVELS, MAX_TRANSITION_STATES, createLogger, normalizeTransitionState, validateLogLevel, type LogFields, type LogLevel, type Logger, type LoggerOptions } from './log.js';
export {
  CONTROL_ID_PATTERN,
  DEFAULT_PLUGINS_ROOT,
  PLUGIN_ID_PATTERN,
  containerImageNodeId,
  containerNodeId,
  hostNodeId,
  isValidPluginId,
  pluginIdFromSocketPath,
  pluginSocketPath,
  processNodeId,
  readHostId,
  validatePluginId,
} from './protocol/ids.js';
export { PROBE_PRIORITIES, findPriorityCollisions, type PriorityCollision, type PriorityRows } from './protocol/probe-rows.js';
export { parseCgroupContainerId, readContainerIdOfPid } from './proc/cgroup.js';
export { TOPOLOGY_NAMES, isTopologyKey, type TopologyKey, type TopologyName } from './protocol/topologies.js';
export {
  HOST_EXEC_CONTROL,
  MULTICOLUMN_SEPARATOR,
  NodeBuilder,
  ReportBuilder,
  TopologyBuilder,
  createReport,
  type LatestValue,
  type TableRows,
} from './report/builder.js';
export { createMetricWindow, type MetricWindow, type MetricWindowOptions } from './report/metric-window.js';
export { describeViolation, guardReport, type GuardOptions, type GuardResult } from './report/guard.js';
export { diagnoseDecoded, formatPath, inspectReport, registryStatus, type InspectOptions, type Violation, type ViolationCode, type ViolationKind } from './report/inspect.js';
export { isRfc3339 } from './report/rfc3339.js';
export type * from './report/types.js';
export { parseControlRequest, type ControlRequest } from './server/control-request.js';
export { MAX_CONTROL_BODY_BYTES, createPluginHttpServer, type PluginHandlers } from './server/http-server.js';
export { prepareSocketPath, probeSocket, removeSocketFile } from './server/socket-file.js';
export { servePluginSocket, type PluginSocket, type PluginSocketOptions } from './server/plugin-socket.js';
export {
  definePlugin,
  UNCHANGED,
  type CollectContext,
  type CollectResult,
  type ControlOutcome,
  type PluginContext,
  type PluginDefinition,
  type PluginInstance,
  type ResolvedPluginDefinition,
} from './plugin/define.js';
export {
  kebabCase,
  optionEnv,
  optionFlag,
  resolveOptionValues,
  type BooleanOption,
  type EnumOption,
  type FlagStyle,
  type ListOption,
  type NumberOption,
  type OptionSchema,
  type OptionSpec,
  type OptionValue,
  type OptionValues,
  type StringOption,
} from './plugin/options.js';
export { createSharedScope, sharedResourceHolds, type AcquireShared, type SharedLease, type SharedResource, type SharedScope } from './plugin/shared.js';
export { CONTROL_BUDGET_MS, ONCE_READY_MS, PluginCollector, collectOnce, startPlugin, type PluginHealth, type RunningPlugin, type RuntimeOptions } from './plugin/runtime.js';
export { CREATE_RETRY_MS, PluginLifecycle, type LifecycleOptions, type PluginState } from './plugin/lifecycle.js';
export { createPluginScope, currentPluginScope, outsidePluginScope, type DisposeSummary, type FaultKind, type PluginScope } from './plugin/scope.js';
export { installFaultHandlers } from './plugin/faults.js';
export { IDLE_AFTER_MS, IDLE_INTERVAL_MS, startCollectionSchedule, type CollectionSchedule, type ScheduleOptions } from './plugin/schedule.js';
export { addCommonOptions, addPluginOptions, parsePositiveInt, readCommonFlags, type CommonFlags, type PluginOptionInput, type PluginOptionReader } from './cli/options.js';
export { createPluginProgram, runPluginCli, runPlugins, type RunPluginsOptions } from './cli/run.js';
export { limitV8Memory, type V8MemoryOptions, type V8MemoryOutcome } from './cli/v8-memory.js';
export { diagnoseControlResponse, diagnosePoll, diagnoseReportBody, hasProblems, type Diagnosis, type TopologySummary } from './doctor/diagnose.js';
export { doctorFailed, formatDoctor, runDoctor, type DoctorEntry, type DoctorOptions } from './doctor/doctor.js';
export { createDoctorCommand } from './doctor/command.js';
export { findPluginSockets } from './doctor/find-sockets.js';
export { readProbeNodes } from './doctor/probe-nodes.js';
export { parseFirstJsonValue } from './doctor/first-json-value.js';
export { pollReport, requestPlugin, type PollResult } from './doctor/poll.js';
export { defineMetricFamily, validateMetricFamilies, type MetricFamily, type MetricKind } from './metrics/family.js';
export { createMetricsBatch, type DropReason, type HistogramValue, type MetricLabels, type MetricsBatch, type MetricsSink, type MetricsSnapshot, type RecordedSeries } from './metrics/sink.js';
export { OTHER, createCounterFolder, splitTopN, type CounterEntry, type CounterFolder, type CounterVector, type FoldedCounters } from './metrics/fold.js';
export { HEALTH_FAMILIES, MAX_PLUGINS } from './metrics/health.js';
export { createMetricsHub, type MetricsHub } from './metrics/hub.js';
export { isLoopbackHost, parseListenAddress, type ListenAddress } from './metrics/listen-address.js';
export { negotiateFormat } from './metrics/negotiate.js';
export { buildSamples, createExposition, type Exposition, type ExpositionFormat, type SeriesReader } from './metrics/exposition.js';
export { METRICS_PATH, createMetricsServer, listenMetricsServer } from './metrics/server.js';
