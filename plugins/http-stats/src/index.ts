import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { UNCHANGED, definePlugin, type OptionSchema, type TopologyTemplates } from '@scope-plugins/core';
import type { TracerEvent } from './parse.js';
import { composeTracerProgram } from './program.js';
import { planTlsTracing } from './tls-plan.js';
import { startSelfTest, type SelfTest } from './self-test.js';
import { collectHttpStats, latencySamplesTemplate, METHOD_TABLE_PREFIX, PROCESS_COUNT_KEY, REQUESTS_METRIC, STATUS_TABLE_PREFIX, TABLE_COLUMNS, TLS_TRACER_KEY, TOTAL_KEYS, TRACER_KEY } from './collect.js';
import { createContainerLookup } from './containers.js';
import { createExcluder, parseExcludeOption } from './exclude.js';
import { createHttpStats } from './stats.js';
import { HTTP_STATS_METRIC_FAMILIES, createHttpStatsMetricsRecorder } from './metrics.js';
import { resolveTlsLibraries } from './tls.js';
import { createTracer } from './tracer.js';
import { createUnchangedCheck } from './unchanged.js';
import { aotRuntimeFor, inlineSelfPid } from './aot.js';
export { LIBRARY_PLACEHOLDER, composeTracerProgram, isAttachablePath } from './program.js';
export { followTracerOutput, type TracerOutputHandlers } from './tracer-output.js';
export { planTlsTracing, type TlsPlan } from './tls-plan.js';
export { SELF_TEST_REQUESTS, startSelfTest, type SelfTest } from './self-test.js';

export { HTTP_METHODS, latencyBucketRange, parseTracerLine, type PidCount, type TracerEvent, type TracerParseError } from './parse.js';
export { createHttpStats, percentileFromBuckets, type CountAndRate, type HttpStats, type HttpStatsOptions, type ProcessHttpStats } from './stats.js';
export { BPFTRACE_GLIBC_TUNABLES, createTracer, type Tracer, type TracerOptions, type TracerStatus } from './tracer.js';
export {
  CAPABILITIES,
  PREFLIGHT_PROBLEMS,
  checkTracerPrerequisites,
  missingCapabilities,
  parseProcCredentials,
  resolveCommand,
  type PreflightOptions,
  type PreflightProblem,
  type PreflightProblemCode,
  type ProcCredentials,
} from './preflight.js';
export { LIBSSL_CANDIDATES, resolveTlsLibraries } from './tls.js';
export {
  HTTP_STATS_METRICS,
  HTTP_STATS_METRIC_FAMILIES,
  LATENCY_BUCKETS_SECONDS,
  MAX_PROCESS_SERIES,
  REGISTERED_STATUS_CODES,
  buildCounterVector,
  createHttpStatsMetricsRecorder,
  latencyBucketIndex,
  type HttpStatsMetricsRecorder,
} from './metrics.js';
export {
  TLS_TRACER_KEY,
  METHOD_TABLE_PREFIX,
  PROCESS_COUNT_KEY,
  REQUESTS_METRIC,
  STATUS_TABLE_PREFIX,
  TABLE_COLUMNS,
  TOTAL_KEYS,
  TRACER_KEY,
  buildContainerNode,
  buildProcessNode,
  collectHttpStats,
  describeStatus,
  isProcessAlive,
  latencySamplesTemplate,
  statusMetricId,
  type CollectSources,
} from './collect.js';
export { createContainerLookup, type ContainerLookup } from './containers.js';
export { createUnchangedCheck, type UnchangedCheck } from './unchanged.js';
export { AOT_COMPILE_TIMEOUT_MS, SELF_PID_PLACEHOLDER, aotRuntimeFor, compileAot, inlineSelfPid, type CompiledProgram } from './aot.js';
export { createExcluder, parseExcludeOption, type ExcludeRules, type Excluder } from './exclude.js';

/** The bpftrace program shipped in this package's `bpf/` folder. */
export const BPF_PROGRAM_PATH = fileURLToPath(new URL('../bpf/http-stats.bt', import.meta.url));
/** The faster variant for x86_64 kernels with 16 KiB stacks (see its header); the default on x86_64 after the start-up self-test. */
export const X86_64_BPF_PROGRAM_PATH = fileURLToPath(new URL('../bpf/http-stats-x86_64.bt', import.meta.url));
/** The portable program written for bpftrace's AOT mode (no casts): the program of `--aot`. */
export const AOT_BPF_PROGRAM_PATH = fileURLToPath(new URL('../bpf/http-stats-aot.bt', import.meta.url));
/** The OpenSSL uprobe fragment (HTTPS) shipped next to it, appended to the syscall program per library (program.ts). */
export const TLS_BPF_PROGRAM_PATH = fileURLToPath(new URL('../bpf/https-openssl.bt', import.meta.url));

/** The plugin's options: `--program` in `scope-http-stats`, `--http-stats.program` in the suite, env `SCOPE_HTTP_STATS_PROGRAM`, ... */
export const HTTP_STATS_OPTIONS = {
  bpftrace: { type: 'string', placeholder: 'command', default: 'bpftrace', description: 'bpftrace command or path', deprecatedFlags: ['bpftrace'] },
  program: {
    type: 'string',
    placeholder: 'file',
    description: 'bpftrace program to run (default: on x86_64 bpf/http-stats-x86_64.bt once a start-up self-test saw it count, else bpf/http-stats.bt)',
    deprecatedFlags: ['program'],
  },
  x86Program: { type: 'string', placeholder: 'file', description: 'x86_64 program tried first when --program is not given (for tests of the self-test fallback)' },
  tlsLibraries: {
    type: 'string',
    placeholder: 'list',
    default: 'auto',
    description: 'HTTPS: comma-separated libssl files or binaries with OpenSSL linked in (e.g. /usr/bin/node) to attach uprobes to; auto = the libssl found; none = off',
    deprecatedFlags: ['tls-libraries'],
  },
  aot: {
    type: 'boolean',
    default: false,
    description:
      'run the tracer in bpftrace AOT mode: compiled at start, then run by bpftrace-aotrt without LLVM (about 13 MiB instead of 110); plain HTTP only (no HTTPS), portable program (reads cost an entry probe more)',
  },
  fullBtf: {
    type: 'boolean',
    default: false,
    description:
      "let bpftrace load the kernel's whole BTF (about 12 MiB more resident in bpftrace, a slower start) instead of a file with only the kernel types its program names",
  },
  rateWindowMs: { type: 'number', integer: true, min: 1000, unit: 'ms', default: 5000, description: 'rates are averaged over this window', deprecatedFlags: ['rate-window-ms'] },
  exclude: {
    type: 'string',
    placeholder: 'list',
    description: "comma-separated pids and command names (as in /proc/<pid>/comm, e.g. dockerd,scope) whose HTTP traffic is not shown; the plugin's own process is always left out",
    validate: (value: string) => void parseExcludeOption(value),
    deprecatedFlags: ['exclude'],
  },
  latencyWindowMs: { type: 'number', integer: true, min: 1000, unit: 'ms', default: 60_000, description: 'latency percentiles cover this window', deprecatedFlags: ['latency-window-ms'] },
} as const satisfies OptionSchema;

/** Templates of a node with HTTP numbers: a process, or a container (sums over its processes). */
const HTTP_TEMPLATES: TopologyTemplates = {
  // 0.05, not the original's 0.1: the status metrics use code/1000, and 100 Continue would tie with it.
  metricTemplates: [{ id: REQUESTS_METRIC, label: 'HTTP Req/Second', priority: 0.05 }],
  metadataTemplates: [
    { id: TOTAL_KEYS.latencyP50, label: 'HTTP latency p50 (ms)', dataType: 'number', from: 'latest', priority: 5.1 },
    { id: TOTAL_KEYS.latencyP99, label: 'HTTP latency p99 (ms)', dataType: 'number', from: 'latest', priority: 5.2 },
    { id: TOTAL_KEYS.requests, label: 'HTTP requests (total)', dataType: 'number', from: 'latest', priority: 5.3 },
    { id: TOTAL_KEYS.responses, label: 'HTTP responses (total)', dataType: 'number', from: 'latest', priority: 5.4 },
    latencySamplesTemplate(60_000),
  ],
  tableTemplates: [
    {
      id: 'http-stats-methods',
      label: 'HTTP requests by method',
      prefix: METHOD_TABLE_PREFIX,
      type: 'multicolumn-table',
      columns: [
        { id: TABLE_COLUMNS.method, label: 'Method' },
        { id: TABLE_COLUMNS.total, label: 'Total', dataType: 'number' },
        { id: TABLE_COLUMNS.rate, label: 'Per second', dataType: 'number' },
      ],
    },
    {
      id: 'http-stats-statuses',
      label: 'HTTP responses by status',
      prefix: STATUS_TABLE_PREFIX,
      type: 'multicolumn-table',
      columns: [
        { id: TABLE_COLUMNS.status, label: 'Status' },
        { id: TABLE_COLUMNS.total, label: 'Total', dataType: 'number' },
        { id: TABLE_COLUMNS.rate, label: 'Per second', dataType: 'number' },
      ],
    },
  ],
};

/** The http-stats plugin: HTTP requests, response codes, latency and methods per process, via bpftrace. */
export const plugin = definePlugin({
  id: 'http-stats',
  label: 'HTTP Statistics',
  description: 'HTTP/1.x requests, response codes, latency and methods per process, from eBPF syscall tracepoints (bpftrace)',
  intervalMs: 1000,
  onceCollects: 5,
  metrics: HTTP_STATS_METRIC_FAMILIES,
  topologies: {
    // Priorities: none collides with the probe's own rows (shared/core PROTOCOL-NOTES.md) or another plugin's.
    Host: {
      metadataTemplates: [
        { id: TRACER_KEY, label: 'HTTP tracer', from: 'latest', priority: 20.5 },
        { id: TLS_TRACER_KEY, label: 'HTTPS tracers (OpenSSL)', from: 'latest', priority: 21.5 },
      ],
    },
    Process: HTTP_TEMPLATES,
    // A container shows the sums over its processes, under the same ids, plus how many processes they cover.
    Container: {
      ...HTTP_TEMPLATES,
      metadataTemplates: [...HTTP_TEMPLATES.metadataTemplates!, { id: PROCESS_COUNT_KEY, label: 'HTTP-serving processes', dataType: 'number', from: 'latest', priority: 5.5 }],
    },
  },
  options: HTTP_STATS_OPTIONS,
  async create(ctx) {
    const { bpftrace, rateWindowMs, latencyWindowMs } = ctx.options;
    const stats = createHttpStats({ rateWindowMs, latencyWindowMs });
    const excluder = createExcluder(ctx.procRoot, ctx.options.exclude === undefined ? undefined : parseExcludeOption(ctx.options.exclude));
    const containers = createContainerLookup(ctx.procRoot);
    // No --program: on x86_64 the register-reading program, kept only once the start-up self-test saw its requests.
    const explicitProgram = ctx.options.program;
    const candidate = ctx.options.x86Program ?? X86_64_BPF_PROGRAM_PATH;
    const aot = ctx.options.aot;
    let programPath = explicitProgram ?? (aot ? AOT_BPF_PROGRAM_PATH : process.arch === 'x64' ? candidate : BPF_PROGRAM_PATH);
    let verified = programPath !== candidate;
    let selfTest: SelfTest | undefined;
    const runSelfTest = () => {
      const test = startSelfTest();
      selfTest = test;
      void test.result.then((ok) => {
        selfTest = undefined;
        // The child's requests are not traffic of this host's workloads.
        if (test.pid !== undefined) stats.drop(test.pid);
        verified = true;
        if (ok) {
          ctx.log.info('start-up self-test passed: using the x86_64 program (syscall arguments from saved registers, no read-entry probes)', { program: programPath });
          return;
        }
        ctx.log.warn('start-up self-test: the x86_64 program did not see the test requests; switching to the portable program', { program: BPF_PROGRAM_PATH });
        programPath = BPF_PROGRAM_PATH;
        tracer.restart();
      });
    };
    // The OpenSSL fragment reads through casts, which bpftrace's AOT mode refuses: HTTPS is not traced there.
    if (aot && ctx.options.tlsLibraries !== 'none') ctx.log.info('--aot: HTTPS (OpenSSL) is not traced in AOT mode, only plain HTTP');
    const tls = await planTlsTracing(aot ? [] : await resolveTlsLibraries(ctx.options.tlsLibraries), ctx.log);
    const tracer = createTracer({
      bpftrace,
      procRoot: ctx.procRoot,
      sysRoot: ctx.sysRoot,
      log: ctx.log,
      onEvent: (event: TracerEvent, at: Date) => {
        selfTest?.observe(event);
        stats.add(event, at);
      },
      programPath,
      // One bpftrace for HTTP and HTTPS: the TLS fragment is appended for every library that can be traced.
      programText: async () =>
        aot
          ? inlineSelfPid(await readFile(programPath, 'utf8'), process.pid)
          : composeTracerProgram(await readFile(programPath, 'utf8'), tls.attached().length > 0 ? await readFile(TLS_BPF_PROGRAM_PATH, 'utf8') : '', tls.attached()),
      // $1: never count this process's own sockets (the probe's GET /report is HTTP too); written into the AOT program's text.
      args: aot ? [] : [String(process.pid)],
      ...(aot ? { aotRuntime: aotRuntimeFor(bpftrace) } : {}),
      btfSubset: !ctx.options.fullBtf,
      runningMessage: aot
        ? 'tracing HTTP on syscall tracepoints (bpftrace AOT runtime)'
        : tls.attached().length > 0
          ? 'tracing HTTP on syscall tracepoints and HTTPS with uprobes on OpenSSL'
          : 'tracing HTTP on syscall tracepoints',
      onRunning: (at) => {
        stats.markStarted(at);
        if (!verified && !selfTest) runSelfTest();
      },
      onEnded: (ended) => tls.onTracerEnded(ended),
    });
    const metricsRecorder = createHttpStatsMetricsRecorder(ctx.procRoot);
    const unchanged = createUnchangedCheck(stats);
    return {
      collect: async ({ report, now, hostId, metrics, warmup }) => {
        // Core drops a warm-up's report: the next collection must not refer to it. (With a metrics endpoint,
        // UNCHANGED keeps the previous series, which came from the same counts.)
        if (warmup) unchanged.forget();
        const reported = await collectHttpStats(report, hostId, now, {
          procRoot: ctx.procRoot,
          stats,
          tracerStatus: () => tracer.status(),
          tlsTracerStatuses: () => tls.statuses(tracer.status()),
          excluder,
          containers,
          latencyWindowMs,
          ...(warmup ? {} : { unchanged }),
        });
        if (reported === UNCHANGED) return UNCHANGED;
        await metricsRecorder.record(metrics, reported);
        return undefined;
      },
      close: async () => {
        await tracer.stop();
      },
    };
  },
});
