import { ScopePluginError, describeError } from '../errors.js';
import { createLogger, type Logger } from '../log.js';
import { pluginSocketPath, readHostId, DEFAULT_PLUGINS_ROOT } from '../protocol/ids.js';
import { isTopologyKey } from '../protocol/topologies.js';
import { createReport } from '../report/builder.js';
import { describeViolation, guardReport } from '../report/guard.js';
import { restampBody, serveBody, type ServedBody } from '../report/served-body.js';
import type { PluginSpec, Report, ReportTopologies } from '../report/types.js';
import type { ControlRequest } from '../server/control-request.js';
import { createPluginHttpServer } from '../server/http-server.js';
import { servePluginSocket } from '../server/plugin-socket.js';
import { prepareSocketPath } from '../server/socket-file.js';
import { UNCHANGED, type CollectResult, type PluginInstance, type ResolvedPluginDefinition } from './define.js';
import { PluginLifecycle, type LifecycleOptions, type PluginState } from './lifecycle.js';
import { resolveOptionValues, type OptionSchema, type OptionValues } from './options.js';
import { startCollectionSchedule } from './schedule.js';

/** Where and how a plugin runs. */
export interface RuntimeOptions extends LifecycleOptions {
  /** Plugins root. @default '/var/run/scope/plugins' */
  root?: string;
  /** @default readHostId() */
  hostId?: string;
  /** @default createLogger() */
  log?: Logger;
  /** The plugin's option values by name (text or typed), validated against its schema before it starts. @default {} */
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
  /** Longest time between two checks of the socket path (re-created when removed); checks run on the shared heartbeat. @default 2000 */
  socketCheckMs?: number;
  /** No `/report` for this long makes the plugin collect every `idleIntervalMs` only; 0 never idles. @default 30_000 */
  idleAfterMs?: number;
  /** @default 60_000 */
  idleIntervalMs?: number;
  /** Time a control answer may take in total (handler + shortcut report); the probe gives up at 500 ms. @default 400 */
  controlBudgetMs?: number;
}

/** Health of a running plugin, also served at `GET /status`. */
export interface PluginHealth {
  id: string;
  socketPath: string;
  /** Where the plugin instance is (see {@link PluginState}). */
  state: PluginState;
  lastCollectAt: string | null;
  lastError: string | null;
  consecutiveMisses: number;
  stale: boolean;
  collections: number;
  guardViolations: number;
  /** Errors that escaped a plugin instance (each tore it down). */
  faults: number;
  /** Instances created so far (1 + recreations). */
  generation: number;
  /** True while no client asks for `/report` (collecting less often). */
  idle: boolean;
  /** Times the socket was re-created after it or its directory was removed. */
  socketRebinds: number;
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
  /** Checks the socket path now (it is also checked every `socketCheckMs`). */
  checkSocket(): Promise<void>;
  /** Records a read of the plugin's data by another reader than `/report` (a metrics scrape): keeps it out of idle, or wakes it. */
  touch(): void;
  /** Stops collecting, closes the server and removes the socket. Idempotent. */
  stop(): Promise<void>;
}

export { CREATE_RETRY_MS } from './lifecycle.js';

/** Default of {@link RuntimeOptions.controlBudgetMs}. */
export const CONTROL_BUDGET_MS = 400;

/** The description shown in Scope: the definition's, plus what is wrong, from the plugin's state. */
function describeState(definition: ResolvedPluginDefinition, state: PluginState, reason: string | null, stale: string | null): string {
  if (state === 'not-running') return `${definition.description} (not running: ${reason})`;
  if (state === 'failed') return `${definition.description} (failed: ${reason}; restarting)`;
  if (stale) return `${definition.description} (stale: ${stale})`;
  return definition.description;
}

function buildSpec(definition: ResolvedPluginDefinition, description: string): PluginSpec {
  return {
    id: definition.id,
    label: definition.label,
    description,
    interfaces: definition.controlIds.length > 0 ? ['reporter', 'controller'] : ['reporter'],
    api_version: '1',
  };
}

/**
 * `promise`, or `onTimeout()`'s error when it has not settled within `ms`. The timer is armed only when the promise
 * did not settle within the current turn of the event loop: most collections read synchronously and are done by
 * then, and a timer that is armed and cleared still wakes the process once, when it would have been due.
 */
function withTimeout<T>(promise: Promise<T>, ms: number, onTimeout: () => ScopePluginError): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const started = Date.now();
    let settled = false;
    let timer: NodeJS.Timeout | undefined;
    promise.then(
      (value) => {
        settled = true;
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        settled = true;
        clearTimeout(timer);
        reject(error);
      },
    );
    setImmediate(() => {
      if (settled) return;
      timer = setTimeout(() => {
        if (settled) return;
        settled = true;
        reject(onTimeout());
      }, Math.max(0, ms - (Date.now() - started)));
    });
  });
}

/** Resolves true when `promise` settles within `ms`, false otherwise (the promise keeps running). */
function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  if (ms <= 0) return Promise.resolve(false);
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([promise.then(() => true, () => true), new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), ms)))]).finally(() => clearTimeout(timer));
}

/** Collects, guards and caches one plugin's reports; independent of sockets so `--once` can use it. */
export class PluginCollector {
  readonly definition: ResolvedPluginDefinition;
  readonly hostId: string;
  readonly log: Logger;
  #lifecycle: PluginLifecycle | undefined;
  #lifecycleOptions: LifecycleOptions;
  #controlBudgetMs: number;
  /** The served report; undefined after a re-stamp until someone asks for the object ({@link report}). */
  #report: Report | undefined;
  #body: ServedBody;
  #topologies: ReportTopologies = {};
  /** The instance whose collection built {@link #topologies} (UNCHANGED refers to it), and when. */
  #builtBy: PluginInstance | undefined;
  #builtStamp = '';
  /** The spec {@link #body} was served with. */
  #bodySpec = '';
  #inflight: Promise<void> | undefined;
  #lastCollectAt: Date | null = null;
  #lastError: string | null = null;
  #misses = 0;
  #collections = 0;
  #guardViolations = 0;
  readonly #abort = new AbortController();
  /** Signals of the collections running now, with their instance's signal (aborted together with it or with the plugin). */
  readonly #running = new Map<AbortController, AbortSignal | undefined>();
  /** Instance signals already listened to (one listener per instance, not one per collection). */
  readonly #watched = new WeakSet<AbortSignal>();

  constructor(definition: ResolvedPluginDefinition, hostId: string, log: Logger, options: LifecycleOptions & { controlBudgetMs?: number } = {}) {
    this.definition = definition;
    this.hostId = hostId;
    this.log = log;
    this.#lifecycleOptions = options;
    this.#controlBudgetMs = options.controlBudgetMs ?? CONTROL_BUDGET_MS;
    const report = this.#compose();
    this.#report = report;
    this.#body = serveBody(JSON.stringify(report), '');
  }

  get signal(): AbortSignal {
    return this.#abort.signal;
  }

  get stale(): boolean {
    return this.#misses >= this.definition.staleAfterMisses;
  }

  /** Where the plugin instance is. */
  get state(): PluginState {
    return this.#lifecycle?.state ?? 'starting';
  }

  /** The lifecycle owning the instance (undefined before {@link start}). */
  get lifecycle(): PluginLifecycle | undefined {
    return this.#lifecycle;
  }

  /**
   * Creates the plugin instance. A `create` that throws (a missing tool, no permission) does not stop
   * the plugin: it keeps serving its spec with the reason in the description, and creation is retried
   * every `createRetryMs` from the collection schedule. An instance that fails later (an error escaping
   * its callbacks) is torn down and recreated with backoff by its {@link PluginLifecycle}.
   */
  async start(options: Pick<RuntimeOptions, 'options' | 'procRoot' | 'sysRoot'>): Promise<void> {
    // A bad option value is the caller's mistake, not a missing tool: it fails the start (TypeError), no retry.
    const values = resolveOptionValues(this.definition.id, this.definition.options, options.options);
    this.#lifecycle = new PluginLifecycle(
      this.definition,
      {
        id: this.definition.id,
        hostId: this.hostId,
        log: this.log,
        // Validated above against this definition's own schema.
        options: values as OptionValues<OptionSchema>,
        procRoot: options.procRoot ?? '/proc',
        sysRoot: options.sysRoot ?? '/sys',
      },
      this.log,
      this.#lifecycleOptions,
      () => this.#onStateChange(),
    );
    await this.#lifecycle.ensure();
  }

  #onStateChange(): void {
    const state = this.#lifecycle?.state;
    if (state === 'failed' || state === 'not-running') {
      // The data came from an instance that is gone: do not serve it as if it were current.
      this.#topologies = {};
      this.#builtBy = undefined;
      this.#misses = 0;
      this.#lastError = null;
    }
    this.#publish();
  }

  report(): Report {
    // After a re-stamp only the body is current; the object is rebuilt from it on demand (rare: --once, controls, tests).
    this.#report ??= JSON.parse(this.#body.bytes.toString('utf8')) as Report;
    return this.#report;
  }

  /** The served report's bytes: made once per publish, never per request. */
  body(): Buffer {
    return this.#body.bytes;
  }

  health(socketPath = ''): PluginHealth {
    const lifecycle = this.#lifecycle;
    return {
      id: this.definition.id,
      socketPath,
      state: this.state,
      lastCollectAt: this.#lastCollectAt?.toISOString() ?? null,
      lastError: lifecycle?.reason ?? this.#lastError,
      consecutiveMisses: this.#misses,
      stale: this.stale,
      collections: this.#collections,
      guardViolations: this.#guardViolations,
      faults: lifecycle?.faults ?? 0,
      generation: lifecycle?.generation ?? 0,
      idle: false,
      socketRebinds: 0,
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

  /**
   * Runs one collection; resolves when it finished, failed or timed out. Never rejects. With
   * `publish: false` the result is dropped (a warm-up that only moves a rate-based plugin's baseline).
   */
  async collect(options: { publish?: boolean } = {}): Promise<void> {
    if (this.#inflight) {
      // Wait for the running collection rather than starting a second one alongside it.
      await withTimeout(this.#inflight, this.definition.timeoutMs, () => new ScopePluginError('COLLECT_TIMEOUT', 'previous collection still running')).catch(() => undefined);
      if (this.busy) return;
    }
    const lifecycle = this.#lifecycle;
    const instance = await lifecycle?.ensure();
    if (!lifecycle || !instance) return;
    const generation = lifecycle.generation;
    const now = new Date();
    const report = createReport(now);
    for (const [key, templates] of Object.entries(this.definition.topologies)) {
      if (isTopologyKey(key) && templates) report.topology(key).templates(templates);
    }
    const controller = new AbortController();
    const instanceSignal = lifecycle.signal;
    if (this.#abort.signal.aborted) controller.abort(new Error('plugin stopped'));
    if (instanceSignal && !this.#watched.has(instanceSignal)) {
      this.#watched.add(instanceSignal);
      instanceSignal.addEventListener('abort', () => this.#abortRunning(instanceSignal), { once: true });
    }
    if (instanceSignal?.aborted) controller.abort(new Error('plugin stopped'));
    this.#running.set(controller, instanceSignal);
    // Inside the instance's scope: whatever collect starts belongs to (and is blamed on) the instance.
    const run = lifecycle.run(() => (async (): Promise<CollectResult> => instance.collect({ report, now, hostId: this.hostId, signal: controller.signal, ...(options.publish === false ? { warmup: true } : {}) }))());
    const inflight = run.then(
      () => undefined,
      () => undefined,
    ).finally(() => {
      this.#running.delete(controller);
      if (this.#inflight === inflight) this.#inflight = undefined;
    });
    this.#inflight = inflight;
    let result: CollectResult;
    try {
      result = await withTimeout(run, this.definition.timeoutMs, () => {
        controller.abort(new Error('collection timed out'));
        return new ScopePluginError('COLLECT_TIMEOUT', `collection took longer than ${this.definition.timeoutMs} ms`);
      });
    } catch (error) {
      // A collection of an instance torn down meanwhile says nothing about the new one.
      if (lifecycle.generation === generation && lifecycle.instance === instance) this.#miss(describeError(error));
      return;
    }
    if (lifecycle.instance !== instance) return;
    if (options.publish === false) return;
    let restamp = false;
    if (result === UNCHANGED) {
      if (this.#builtBy !== instance) {
        this.#miss('the plugin said its report was unchanged before it had sent one (a bug in the plugin)');
        return;
      }
      restamp = true;
    } else {
      this.#topologies = report.build();
      this.#builtBy = instance;
      this.#builtStamp = report.timestamp;
    }
    this.#lastCollectAt = now;
    this.#collections++;
    if (this.#misses > 0 || this.#lastError) {
      this.log.transition('collect', 'ok', 'info', 'collection recovered', { after_misses: this.#misses });
    }
    this.#misses = 0;
    this.#lastError = null;
    this.#publish(restamp ? report.timestamp : undefined);
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
    const stale = this.stale ? `${this.#misses} collections missed: ${this.#lastError}` : null;
    const description = describeState(this.definition, this.state, this.#lifecycle?.reason ?? null, stale);
    return { Plugins: [buildSpec(this.definition, description)], ...this.#topologies };
  }

  /**
   * Guards and serializes the report to serve. With `restampTo` (the collection said {@link UNCHANGED}) and
   * the same spec as the body served now, the body is served again with its collection time set to
   * `restampTo`: what was guarded before is what goes out, only newer.
   */
  #publish(restampTo?: string): void {
    const composed = this.#compose();
    const spec = JSON.stringify(composed.Plugins);
    if (restampTo !== undefined && spec === this.#bodySpec && this.#body.stamp !== '') {
      this.#body = restampBody(this.#body, restampTo);
      this.#report = undefined;
      return;
    }
    const { report, violations } = guardReport(composed, { pluginId: this.definition.id, hostId: this.hostId });
    if (violations.length > 0) {
      this.#guardViolations += violations.length;
      for (const violation of violations) {
        this.log.transition(`guard:${violation.path.join('/')}`, violation.message, 'error', `report guard removed part of the report: ${describeViolation(violation)}`);
      }
    }
    this.#report = report;
    this.#bodySpec = spec;
    // Topologies re-published after a re-stamp carry the time they were built at again (older, never wrong).
    this.#body = serveBody(JSON.stringify(report), this.#builtBy ? this.#builtStamp : '');
  }

  /**
   * Checks and runs a control; always resolves to the JSON object Scope expects, within the control
   * budget (the probe gives up after 500 ms): the handler gets at most 300 ms of it, and the shortcut
   * report is left out when a fresh collection does not finish in what remains (the next `/report`
   * carries the new state instead).
   */
  async control(request: ControlRequest): Promise<Record<string, unknown>> {
    const { definition } = this;
    const deadline = Date.now() + this.#controlBudgetMs;
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
    const lifecycle = this.#lifecycle;
    const instance = lifecycle?.instance;
    const handler = instance?.control;
    if (!lifecycle || !instance || !handler) return fail(`plugin ${definition.id} ${instance ? 'has no control handler' : `is ${this.state}: ${lifecycle?.reason ?? 'no instance'}`}`);
    const handlerMs = Math.min(300, this.#controlBudgetMs);
    let outcome;
    try {
      outcome = await withTimeout(
        lifecycle.run(() => Promise.resolve(handler.call(instance, request, { hostId: this.hostId }))),
        handlerMs,
        () => new ScopePluginError('CONTROL_FAILED', `control handler took longer than ${handlerMs} ms`),
      );
    } catch (error) {
      return fail(`control ${request.control} failed: ${describeError(error)}`);
    }
    if (outcome && 'error' in outcome) return fail(outcome.error);
    this.log.info('control applied', { control: request.control, node: request.nodeId });
    const before = this.#lastCollectAt;
    const answer: Record<string, unknown> = {};
    if (outcome && 'value' in outcome && outcome.value !== undefined) answer['value'] = outcome.value;
    // The collection keeps running past the budget and is published for the next /report.
    const inTime = await settlesWithin(this.collect(), deadline - Date.now());
    if (!inTime) {
      this.log.transition('control-shortcut', 'dropped', 'debug', 'control answered without a shortcut report: the fresh collection did not finish within the budget', { budget_ms: this.#controlBudgetMs });
      return answer;
    }
    // Only a fresh report may go out as a shortcut: its timestamps must beat the last /report's.
    if (this.#lastCollectAt !== before) answer['shortcutReport'] = this.report();
    return answer;
  }

  /** Aborts the running collections (of one instance, or all). */
  #abortRunning(instanceSignal?: AbortSignal): void {
    for (const [controller, signal] of this.#running) {
      if (instanceSignal === undefined || signal === instanceSignal) controller.abort(new Error('plugin stopped'));
    }
  }

  async close(): Promise<void> {
    this.#abort.abort(new Error('plugin stopped'));
    this.#abortRunning();
    await this.#lifecycle?.stop();
  }

  /** Waits (at most `maxMs`) for the instance's `ready()`, if it has one; never rejects. */
  async ready(maxMs: number): Promise<void> {
    const instance = this.#lifecycle?.instance;
    if (!instance?.ready) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([Promise.resolve(instance.ready()).catch(() => undefined), new Promise<void>((resolve) => (timer = setTimeout(resolve, maxMs)))]);
    clearTimeout(timer);
  }
}

/** Starts a plugin: prepares its socket, serves it and collects on its own schedule. */
export async function startPlugin(definition: ResolvedPluginDefinition, options: RuntimeOptions = {}): Promise<RunningPlugin> {
  const root = options.root ?? DEFAULT_PLUGINS_ROOT;
  const hostId = options.hostId ?? readHostId();
  const log = (options.log ?? createLogger()).child({ plugin: definition.id });
  const resolved = options.intervalMs ? { ...definition, intervalMs: options.intervalMs, timeoutMs: Math.min(definition.timeoutMs, options.intervalMs) } : definition;
  const socketPath = pluginSocketPath(root, definition.id);
  const collector = new PluginCollector(resolved, hostId, log, options);

  // Refuse a live owner (or a non-socket) before creating anything.
  await prepareSocketPath(socketPath, options.dirMode === undefined ? {} : { dirMode: options.dirMode });
  await collector.start(options);

  let schedule: ReturnType<typeof startCollectionSchedule> | undefined;
  const socket = await servePluginSocket({
    socketPath,
    log,
    ...(options.dirMode === undefined ? {} : { dirMode: options.dirMode }),
    socketMode: options.socketMode ?? 0o600,
    ...(options.socketCheckMs === undefined ? {} : { checkIntervalMs: options.socketCheckMs }),
    createServer: () =>
      createPluginHttpServer(
        {
          report: () => {
            schedule?.touch({ align: true });
            return collector.body();
          },
          control: (request) => collector.control(request),
          status: () => {
            // The process's memory, for soak runs and operators; the plugin's own resources beside it.
            const memory = process.memoryUsage();
            return { ...health(), process: { pid: process.pid, rssBytes: memory.rss, heapUsedBytes: memory.heapUsed, heapTotalBytes: memory.heapTotal, externalBytes: memory.external } };
          },
        },
        log,
      ),
  }).catch(async (error: unknown) => {
    await collector.close();
    throw error;
  });
  log.info('serving', { socket: socketPath, host_id: hostId, interval_ms: resolved.intervalMs });

  schedule = startCollectionSchedule(collector, {
    intervalMs: resolved.intervalMs,
    log,
    warmupCollects: resolved.onceCollects > 1 ? 1 : 0,
    ...(options.idleAfterMs === undefined ? {} : { idleAfterMs: options.idleAfterMs }),
    ...(options.idleIntervalMs === undefined ? {} : { idleIntervalMs: options.idleIntervalMs }),
  });
  const health = (): PluginHealth => ({ ...collector.health(socketPath), idle: schedule?.idle ?? false, socketRebinds: socket.rebinds });

  let stopping: Promise<void> | undefined;
  return {
    id: definition.id,
    socketPath,
    currentReport: () => collector.report(),
    health,
    async collectNow() {
      await collector.collect();
      return collector.report();
    },
    checkSocket: () => socket.check(),
    touch: () => schedule?.touch(),
    stop() {
      stopping ??= (async () => {
        schedule?.stop();
        await socket.stop();
        await collector.close().catch((error: unknown) => log.warn('plugin close failed', { error: describeError(error) }));
        log.info('stopped', { socket: socketPath });
      })();
      return stopping;
    },
  };
}

/** Longest wait of `--once` for a plugin instance's `ready()`. */
export const ONCE_READY_MS = 5000;

/** Runs a plugin without a socket: `onceCollects` collections, then the guarded report. Used by `--once`. */
export async function collectOnce(definition: ResolvedPluginDefinition, options: RuntimeOptions = {}): Promise<Report> {
  const hostId = options.hostId ?? readHostId();
  const log = (options.log ?? createLogger()).child({ plugin: definition.id });
  const collector = new PluginCollector(definition, hostId, log, options);
  await collector.start(options);
  try {
    // One report is printed, so it should hold the slow source's first data; a hung source costs ONCE_READY_MS at most.
    await collector.ready(ONCE_READY_MS);
    for (let i = 0; i < definition.onceCollects; i++) {
      if (i > 0) await new Promise((resolve) => setTimeout(resolve, options.intervalMs ?? definition.intervalMs));
      await collector.collect();
    }
  } finally {
    await collector.close();
  }
  return collector.report();
}
