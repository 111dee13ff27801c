/**
 * The one place that owns a plugin instance's life: creates it inside its own scope, retries a failed
 * `create`, takes a fault that escaped the instance (an uncaught exception or unhandled rejection
 * attributed to its scope), tears the instance down with every resource it holds, and recreates it
 * with backoff, while the rest of the process keeps serving.
 */
import { describeError } from '../errors.js';
import type { Logger } from '../log.js';
import { createBackoff, type Backoff } from '../util/backoff.js';
import type { PluginContext, PluginInstance, ResolvedPluginDefinition } from './define.js';
import { createPluginScope, type FaultKind, type PluginScope } from './scope.js';
import { createSharedScope, type SharedScope } from './shared.js';

/**
 * Where a plugin instance is.
 * - `starting`: `create` has not finished yet;
 * - `running`: an instance serves;
 * - `not-running`: `create` threw (a missing tool, no permission); retried every `createRetryMs`;
 * - `failed`: an error escaped the instance; it was torn down and is recreated after a backoff;
 * - `stopped`: the plugin was stopped.
 */
export type PluginState = 'starting' | 'running' | 'not-running' | 'failed' | 'stopped';

/** How a {@link PluginLifecycle} retries. */
export interface LifecycleOptions {
  /** Delay between `create` attempts after it threw. @default 10_000 */
  createRetryMs?: number;
  /** First delay before recreating an instance that failed; doubles per failure in a row. @default 1000 */
  restartInitialMs?: number;
  /** @default 60_000 */
  restartMaxMs?: number;
  /** An instance that ran this long before failing starts the backoff over. @default 60_000 */
  healthyAfterMs?: number;
  /** How long `close()` of a failed or stopped instance may take before its resources are released anyway. @default 2000 */
  closeTimeoutMs?: number;
}

/** Default of {@link LifecycleOptions.createRetryMs}. */
export const CREATE_RETRY_MS = 10_000;

/** What the lifecycle needs besides the definition to build a {@link PluginContext}. */
export type ContextBase = Omit<PluginContext, 'signal' | 'shared'>;

function settleWithin(promise: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([promise.then(() => undefined, () => undefined), new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)))]).finally(() => clearTimeout(timer));
}

/** Owns one plugin's instance: creation, retries, fault containment, teardown. */
export class PluginLifecycle {
  readonly #definition: ResolvedPluginDefinition;
  readonly #context: ContextBase;
  readonly #log: Logger;
  readonly #onChange: () => void;
  readonly #createRetryMs: number;
  readonly #healthyAfterMs: number;
  readonly #closeTimeoutMs: number;
  readonly #backoff: Backoff;
  #state: PluginState = 'starting';
  #reason: string | null = null;
  #instance: PluginInstance | undefined;
  #scope: PluginScope | undefined;
  #shared: SharedScope | undefined;
  #abort: AbortController | undefined;
  #generation = 0;
  #createdAt = 0;
  #nextAttemptAt = 0;
  #creating: Promise<PluginInstance | undefined> | undefined;
  #faults = 0;
  #teardown: Promise<void> = Promise.resolve();

  /** `onChange` is called whenever the state or its reason changes (to republish the spec). */
  constructor(definition: ResolvedPluginDefinition, context: ContextBase, log: Logger, options: LifecycleOptions, onChange: () => void) {
    this.#definition = definition;
    this.#context = context;
    this.#log = log;
    this.#onChange = onChange;
    this.#createRetryMs = options.createRetryMs ?? CREATE_RETRY_MS;
    this.#healthyAfterMs = options.healthyAfterMs ?? 60_000;
    this.#closeTimeoutMs = options.closeTimeoutMs ?? 2000;
    this.#backoff = createBackoff({ initialMs: options.restartInitialMs ?? 1000, maxMs: options.restartMaxMs ?? 60_000 });
  }

  get state(): PluginState {
    return this.#state;
  }

  /** Why the plugin is `not-running` or `failed`; null otherwise. */
  get reason(): string | null {
    return this.#reason;
  }

  /** The running instance, if any. */
  get instance(): PluginInstance | undefined {
    return this.#instance;
  }

  /** Errors that escaped an instance so far. */
  get faults(): number {
    return this.#faults;
  }

  /** Instances created so far. */
  get generation(): number {
    return this.#generation;
  }

  /** Aborted when the current instance is torn down. */
  get signal(): AbortSignal | undefined {
    return this.#abort?.signal;
  }

  /** Live resources of the current instance. */
  resources() {
    return this.#scope?.resources() ?? { timers: 0, children: 0, handles: 0 };
  }

  /** Runs `fn` inside the current instance's scope, so what it starts is owned by and blamed on the instance. */
  run<T>(fn: () => T): T {
    return this.#scope && !this.#scope.disposed ? this.#scope.run(fn) : fn();
  }

  /** The running instance, creating it first when none runs and an attempt is due. Never rejects. */
  async ensure(now = Date.now()): Promise<PluginInstance | undefined> {
    if (this.#instance) return this.#instance;
    if (this.#state === 'stopped') return undefined;
    if (this.#creating) return this.#creating;
    if (now < this.#nextAttemptAt) return undefined;
    this.#creating = this.#create().finally(() => (this.#creating = undefined));
    return this.#creating;
  }

  async #create(): Promise<PluginInstance | undefined> {
    // A failed instance's close() may still be running; never let two generations overlap.
    await this.#teardown;
    const generation = ++this.#generation;
    const scope = createPluginScope(this.#definition.id, generation, (s, error, kind) => this.#fault(s, error, kind));
    const abort = new AbortController();
    // Holds on process-wide shared resources go with this instance: released however it ends.
    const shared = createSharedScope();
    this.#scope = scope;
    this.#abort = abort;
    this.#shared = shared;
    const wasFailed = this.#state === 'failed' || this.#state === 'not-running';
    let instance: PluginInstance;
    try {
      instance = await scope.run(() => this.#definition.create({ ...this.#context, signal: abort.signal, shared: shared.acquire }));
    } catch (error) {
      abort.abort(new Error('create failed'));
      scope.dispose();
      void shared.releaseAll();
      this.#scope = undefined;
      this.#shared = undefined;
      this.#nextAttemptAt = Date.now() + this.#createRetryMs;
      this.#setState('not-running', describeError(error));
      this.#log.transition('create', `failed:${this.#reason}`, 'error', 'plugin cannot start; serving an empty report and retrying', { reason: this.#reason, retry_ms: this.#createRetryMs });
      return undefined;
    }
    if (scope.disposed || this.#state === 'stopped') {
      // A fault (or stop) arrived while create() was still running: this instance is already gone.
      void this.#close(instance, scope, abort, shared);
      return undefined;
    }
    this.#instance = instance;
    this.#createdAt = Date.now();
    if (wasFailed) this.#log.info('plugin started after earlier failure', { generation });
    this.#log.transition('create', 'ok', 'debug', 'plugin instance created', { generation });
    this.#setState('running', null);
    return instance;
  }

  #fault(scope: PluginScope, error: unknown, kind: FaultKind): void {
    if (scope !== this.#scope || scope.disposed) {
      // A late callback of an instance already torn down: contained, nothing left to tear down.
      this.#log.debug('error from a plugin instance already torn down; ignored', { generation: scope.generation, error: describeError(error), kind });
      return;
    }
    this.#faults++;
    const ranMs = this.#instance ? Date.now() - this.#createdAt : 0;
    if (ranMs >= this.#healthyAfterMs) this.#backoff.reset();
    const delayMs = this.#backoff.next();
    this.#nextAttemptAt = Date.now() + delayMs;
    const reason = describeError(error);
    const stack = error instanceof Error ? error.stack?.split('\n')[1]?.trim() : undefined;
    this.#log.error('plugin failed: an error escaped it; tearing it down with its resources and recreating it; the other plugins keep serving', {
      error: reason,
      kind,
      at: stack,
      generation: scope.generation,
      restart_in_ms: delayMs,
    });
    const instance = this.#instance;
    const abort = this.#abort;
    const shared = this.#shared;
    this.#instance = undefined;
    this.#scope = undefined;
    this.#abort = undefined;
    this.#shared = undefined;
    this.#setState('failed', reason);
    // Resources go now (a runaway timer must not fault again while close() runs); close() gets its chance too.
    const released = scope.dispose();
    this.#log.debug('released the failed instance\'s resources', { ...released });
    if (instance && abort) this.#teardown = this.#close(instance, scope, abort, shared);
    else void shared?.releaseAll();
  }

  async #close(instance: PluginInstance, scope: PluginScope, abort: AbortController, shared: SharedScope | undefined): Promise<void> {
    abort.abort(new Error('plugin instance stopped'));
    const closing = (async () => scope.run(() => instance.close?.()))();
    await settleWithin(
      closing.catch((error: unknown) => this.#log.warn('plugin close failed', { error: describeError(error) })),
      this.#closeTimeoutMs,
    );
    scope.dispose();
    // After close(): the instance may still use a shared resource while closing.
    await settleWithin(shared?.releaseAll() ?? Promise.resolve(), this.#closeTimeoutMs);
  }

  /** Stops the instance for good (closes it and releases its resources). Idempotent. */
  async stop(): Promise<void> {
    if (this.#state === 'stopped') return this.#teardown;
    await this.#creating;
    const instance = this.#instance;
    const scope = this.#scope;
    const abort = this.#abort;
    const shared = this.#shared;
    this.#instance = undefined;
    this.#scope = undefined;
    this.#shared = undefined;
    this.#state = 'stopped';
    if (instance && scope && abort) this.#teardown = this.#close(instance, scope, abort, shared);
    else {
      abort?.abort(new Error('plugin stopped'));
      scope?.dispose();
      this.#teardown = shared?.releaseAll() ?? Promise.resolve();
    }
    await this.#teardown;
  }

  #setState(state: PluginState, reason: string | null): void {
    if (this.#state === state && this.#reason === reason) return;
    this.#state = state;
    this.#reason = reason;
    this.#onChange();
  }
}
