import { chmod } from 'node:fs/promises';
import type { Server } from 'node:http';
import { ScopePluginError, describeError } from '../errors.js';
import { createLogger, type Logger } from '../log.js';
import { pluginSocketPath, readHostId, DEFAULT_PLUGINS_ROOT } from '../protocol/ids.js';
import { isTopologyKey } from '../protocol/topologies.js';
import { createReport } from '../report/builder.js';
import { describeViolation, guardReport } from '../report/guard.js';
import type { PluginSpec, Report, ReportTopologies } from '../report/types.js';
import type { ControlRequest } from '../server/control-request.js';
import { createPluginHttpServer } from '../server/http-server.js';
import { prepareSocketPath, readSocketIdentity, removeSocketFile, type SocketIdentity } from '../server/socket-file.js';
import type { PluginInstance, ResolvedPluginDefinition } from './define.js';

/** Where and how a plugin runs. */
export interface RuntimeOptions {
  /** Plugins root. @default '/var/run/scope/plugins' */
  root?: string;
  /** @default readHostId() */
  hostId?: string;
  /** @default createLogger() */
  log?: Logger;
  /** Plugin-specific option values. @default {} */
  options?: Record<string, unknown>;
  /** @default '/proc' */
  procRoot?: string;
  /** @default '/sys' */
  sysRoot?: string;
  /** Overrides the definition's interval. */
  intervalMs?: number;
  /** Mode of `<root>/<id>/`. @default 0o700 */
  dirMode?: number;
  /** Mode of the socket. @default 0o600 */
  socketMode?: number;
}

/** Health of a running plugin, also served at `GET /status`. */
export interface PluginHealth {
  id: string;
  socketPath: string;
  lastCollectAt: string | null;
  lastError: string | null;
  consecutiveMisses: number;
  stale: boolean;
  collections: number;
  guardViolations: number;
}

/** A started plugin. */
export interface RunningPlugin {
  readonly id: string;
  readonly socketPath: string;
  /** The report as currently served. */
  currentReport(): Report;
  health(): PluginHealth;
  /** Runs a collection now (serialized with scheduled ones) and returns the served report. */
  collectNow(): Promise<Report>;
  /** Stops collecting, closes the server and removes the socket. Idempotent. */
  stop(): Promise<void>;
}

/** How often a plugin whose `create` failed tries again. */
export const CREATE_RETRY_MS = 10_000;

function buildSpec(definition: ResolvedPluginDefinition, staleReason: string | null): PluginSpec {
  const description = staleReason ? `${definition.description} (${staleReason.startsWith('not running') ? '' : 'stale: '}${staleReason})` : definition.description;
  return {
    id: definition.id,
    label: definition.label,
    description,
    interfaces: definition.controlIds.length > 0 ? ['reporter', 'controller'] : ['reporter'],
    api_version: '1',
  };
}

function withTimeout<T>(promise: Promise<T>, ms: number, onTimeout: () => ScopePluginError): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(onTimeout()), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Collects, guards and caches one plugin's reports; independent of sockets so `--once` can use it. */
export class PluginCollector {
  readonly definition: ResolvedPluginDefinition;
  readonly hostId: string;
  readonly log: Logger;
  #instance: PluginInstance | undefined;
  #report: Report;
  #body: string;
  #topologies: ReportTopologies = {};
  #inflight: Promise<void> | undefined;
  #startOptions: Pick<RuntimeOptions, 'options' | 'procRoot' | 'sysRoot'> = {};
  #createError: string | null = null;
  #lastCreateAttempt = 0;
  #lastCollectAt: Date | null = null;
  #lastError: string | null = null;
  #misses = 0;
  #collections = 0;
  #guardViolations = 0;
  readonly #abort = new AbortController();

  constructor(definition: ResolvedPluginDefinition, hostId: string, log: Logger) {
    this.definition = definition;
    this.hostId = hostId;
    this.log = log;
    this.#report = this.#compose();
    this.#body = JSON.stringify(this.#report);
  }

  get signal(): AbortSignal {
    return this.#abort.signal;
  }

  get stale(): boolean {
    return this.#misses >= this.definition.staleAfterMisses;
  }

  /**
   * Creates the plugin instance. A `create` that throws (a missing tool, no permission) does not stop
   * the plugin: it keeps serving its spec with the reason in the description, and creation is retried
   * every `CREATE_RETRY_MS` from the collection schedule.
   */
  async start(options: Pick<RuntimeOptions, 'options' | 'procRoot' | 'sysRoot'>): Promise<void> {
    this.#startOptions = options;
    await this.#tryCreate();
  }

  async #tryCreate(): Promise<boolean> {
    const options = this.#startOptions;
    this.#lastCreateAttempt = Date.now();
    try {
      this.#instance = await this.definition.create({
        id: this.definition.id,
        hostId: this.hostId,
        log: this.log,
        options: options.options ?? {},
        procRoot: options.procRoot ?? '/proc',
        sysRoot: options.sysRoot ?? '/sys',
        signal: this.#abort.signal,
      });
    } catch (error) {
      this.#createError = describeError(error);
      this.log.transition('create', `failed:${this.#createError}`, 'error', 'plugin cannot start; serving an empty report and retrying', { reason: this.#createError, retry_ms: CREATE_RETRY_MS });
      this.#publish();
      return false;
    }
    if (this.#createError) this.log.info('plugin started after earlier failure');
    this.#createError = null;
    return true;
  }

  report(): Report {
    return this.#report;
  }

  body(): string {
    return this.#body;
  }

  health(socketPath = ''): PluginHealth {
    return {
      id: this.definition.id,
      socketPath,
      lastCollectAt: this.#lastCollectAt?.toISOString() ?? null,
      lastError: this.#createError ?? this.#lastError,
      consecutiveMisses: this.#misses,
      stale: this.stale,
      collections: this.#collections,
      guardViolations: this.#guardViolations,
    };
  }

  /** True while a collection (possibly an abandoned, timed-out one) is still running. */
  get busy(): boolean {
    return this.#inflight !== undefined;
  }

  /** Records a tick that could not start because the previous collection is still running. */
  recordSkippedTick(): void {
    this.#miss('the previous collection is still running');
  }

  /** Runs one collection; resolves when it finished, failed or timed out. Never rejects. */
  async collect(): Promise<void> {
    if (this.#inflight) {
      // Wait for the running collection rather than starting a second one alongside it.
      await withTimeout(this.#inflight, this.definition.timeoutMs, () => new ScopePluginError('COLLECT_TIMEOUT', 'previous collection still running')).catch(() => undefined);
      if (this.busy) return;
    }
    if (!this.#instance) {
      if (Date.now() - this.#lastCreateAttempt < CREATE_RETRY_MS || !(await this.#tryCreate())) return;
    }
    const instance = this.#instance!;
    const now = new Date();
    const report = createReport(now);
    for (const [key, templates] of Object.entries(this.definition.topologies)) {
      if (isTopologyKey(key) && templates) report.topology(key).templates(templates);
    }
    const controller = new AbortController();
    const onStop = () => controller.abort(this.#abort.signal.reason);
    this.#abort.signal.addEventListener('abort', onStop, { once: true });
    const run = (async () => instance.collect({ report, now, hostId: this.hostId, signal: controller.signal }))();
    const inflight = run.then(
      () => undefined,
      () => undefined,
    ).finally(() => {
      this.#abort.signal.removeEventListener('abort', onStop);
      if (this.#inflight === inflight) this.#inflight = undefined;
    });
    this.#inflight = inflight;
    try {
      await withTimeout(run, this.definition.timeoutMs, () => {
        controller.abort(new Error('collection timed out'));
        return new ScopePluginError('COLLECT_TIMEOUT', `collection took longer than ${this.definition.timeoutMs} ms`);
      });
    } catch (error) {
      this.#miss(describeError(error));
      return;
    }
    this.#topologies = report.build();
    this.#lastCollectAt = now;
    this.#collections++;
    if (this.#misses > 0 || this.#lastError) {
      this.log.transition('collect', 'ok', 'info', 'collection recovered', { after_misses: this.#misses });
    }
    this.#misses = 0;
    this.#lastError = null;
    this.#publish();
  }

  #miss(reason: string): void {
    const wasStale = this.stale;
    this.#misses++;
    this.#lastError = reason;
    this.log.transition('collect', `failed:${reason}`, 'warn', 'collection failed; serving the last good data', { reason });
    if (this.stale && !wasStale) {
      this.log.warn('data is stale', { misses: this.#misses, reason });
    }
    if (this.stale) this.#publish();
  }

  #compose(): Report {
    const staleReason = this.#createError ? `not running: ${this.#createError}` : this.stale ? `${this.#misses} collections missed: ${this.#lastError}` : null;
    return { Plugins: [buildSpec(this.definition, staleReason)], ...this.#topologies };
  }

  #publish(): void {
    const { report, violations } = guardReport(this.#compose(), { pluginId: this.definition.id, hostId: this.hostId });
    if (violations.length > 0) {
      this.#guardViolations += violations.length;
      for (const violation of violations) {
        this.log.transition(`guard:${violation.path.join('/')}`, violation.message, 'error', `report guard removed part of the report: ${describeViolation(violation)}`);
      }
    }
    this.#report = report;
    this.#body = JSON.stringify(report);
  }

  /** Checks and runs a control; always resolves to the JSON object Scope expects. */
  async control(request: ControlRequest): Promise<Record<string, unknown>> {
    const { definition } = this;
    const fail = (error: string) => {
      this.log.warn('control refused', { control: request.control, node: request.nodeId, reason: error });
      return { error };
    };
    if (!definition.controlIds.includes(request.control)) {
      const offered = definition.controlIds.length > 0 ? definition.controlIds.join(', ') : 'none';
      return fail(`unknown control ${JSON.stringify(request.control)}: plugin ${definition.id} offers ${offered}`);
    }
    const node = Object.values(this.#topologies).map((t) => t?.nodes?.[request.nodeId]).find((n) => n !== undefined);
    if (!node) return fail(`unknown node ${JSON.stringify(request.nodeId)}: plugin ${definition.id} reports no such node`);
    const active = node.latest?.['active_controls']?.value.split(';') ?? [];
    if (!active.includes(request.control)) {
      return fail(`control ${JSON.stringify(request.control)} is not available on node ${JSON.stringify(request.nodeId)} (available: ${active.filter((c) => definition.controlIds.includes(c)).join(', ') || 'none'})`);
    }
    const handler = this.#instance?.control;
    if (!handler) return fail(`plugin ${definition.id} has no control handler`);
    let outcome;
    try {
      // The probe gives up after 500 ms; leave room to re-collect for the shortcut report.
      outcome = await withTimeout(Promise.resolve(handler.call(this.#instance, request, { hostId: this.hostId })), 300, () => new ScopePluginError('CONTROL_FAILED', 'control handler took longer than 300 ms'));
    } catch (error) {
      return fail(`control ${request.control} failed: ${describeError(error)}`);
    }
    if (outcome && 'error' in outcome) return fail(outcome.error);
    this.log.info('control applied', { control: request.control, node: request.nodeId });
    const before = this.#lastCollectAt;
    await this.collect();
    const answer: Record<string, unknown> = {};
    if (outcome && 'value' in outcome && outcome.value !== undefined) answer['value'] = outcome.value;
    // Only a fresh report may go out as a shortcut: its timestamps must beat the last /report's.
    if (this.#lastCollectAt !== before) answer['shortcutReport'] = this.#report;
    return answer;
  }

  async close(): Promise<void> {
    this.#abort.abort(new Error('plugin stopped'));
    await this.#instance?.close?.();
  }
}

/** Starts a plugin: prepares its socket, serves it and collects on its own schedule. */
export async function startPlugin(definition: ResolvedPluginDefinition, options: RuntimeOptions = {}): Promise<RunningPlugin> {
  const root = options.root ?? DEFAULT_PLUGINS_ROOT;
  const hostId = options.hostId ?? readHostId();
  const log = (options.log ?? createLogger()).child({ plugin: definition.id });
  const resolved = options.intervalMs ? { ...definition, intervalMs: options.intervalMs, timeoutMs: Math.min(definition.timeoutMs, options.intervalMs) } : definition;
  const socketPath = pluginSocketPath(root, definition.id);
  const collector = new PluginCollector(resolved, hostId, log);

  await prepareSocketPath(socketPath, options.dirMode === undefined ? {} : { dirMode: options.dirMode });
  await collector.start(options);

  const server: Server = createPluginHttpServer(
    {
      report: () => collector.body(),
      control: (request) => collector.control(request),
      status: () => ({ ...collector.health(socketPath) }),
    },
    log,
  );
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(socketPath, () => {
      server.off('error', reject);
      resolve();
    });
  }).catch(async (cause) => {
    await collector.close();
    throw new ScopePluginError('SOCKET_PATH', `cannot listen on ${socketPath}`, { cause });
  });
  const identity: SocketIdentity = readSocketIdentity(socketPath);
  await chmod(socketPath, options.socketMode ?? 0o600);
  registerForExitCleanup(identity);
  log.info('serving', { socket: socketPath, host_id: hostId, interval_ms: resolved.intervalMs });

  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  const tick = () => {
    if (stopped) return;
    timer = setTimeout(tick, resolved.intervalMs);
    if (collector.busy) collector.recordSkippedTick();
    else void collector.collect();
  };
  // First collection right away so the first poll already has data.
  tick();

  let stopping: Promise<void> | undefined;
  return {
    id: definition.id,
    socketPath,
    currentReport: () => collector.report(),
    health: () => collector.health(socketPath),
    async collectNow() {
      await collector.collect();
      return collector.report();
    },
    stop() {
      stopping ??= (async () => {
        stopped = true;
        clearTimeout(timer);
        // Stop accepting first, so the probe sees "connection refused" for no longer than needed.
        removeSocketFile(identity);
        unregisterForExitCleanup(identity);
        server.closeAllConnections();
        await new Promise<void>((resolve) => server.close(() => resolve()));
        await collector.close().catch((error: unknown) => log.warn('plugin close failed', { error: describeError(error) }));
        log.info('stopped', { socket: socketPath });
      })();
      return stopping;
    },
  };
}

/** Runs a plugin without a socket: `onceCollects` collections, then the guarded report. Used by `--once`. */
export async function collectOnce(definition: ResolvedPluginDefinition, options: RuntimeOptions = {}): Promise<Report> {
  const hostId = options.hostId ?? readHostId();
  const log = (options.log ?? createLogger()).child({ plugin: definition.id });
  const collector = new PluginCollector(definition, hostId, log);
  await collector.start(options);
  try {
    for (let i = 0; i < definition.onceCollects; i++) {
      if (i > 0) await new Promise((resolve) => setTimeout(resolve, options.intervalMs ?? definition.intervalMs));
      await collector.collect();
    }
  } finally {
    await collector.close();
  }
  return collector.report();
}

const exitCleanup = new Set<SocketIdentity>();
let exitHookInstalled = false;

function registerForExitCleanup(identity: SocketIdentity): void {
  exitCleanup.add(identity);
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // Last line of defence: whatever way the process ends, no socket is left behind for the probe.
  process.on('exit', () => {
    for (const entry of exitCleanup) removeSocketFile(entry);
  });
}

function unregisterForExitCleanup(identity: SocketIdentity): void {
  exitCleanup.delete(identity);
}
