/**
 * A plugin instance's scope: the async context its code runs in, and the resources it created there.
 *
 * Everything a plugin's `create`, `collect`, `control` and `close` start (timers, child processes, pipes,
 * sockets, servers, and the callbacks and promise chains they lead to) runs inside an AsyncLocalStorage
 * context naming the scope. Node carries that context into every callback caused by it, so:
 * - an uncaught exception or unhandled rejection can be attributed to the plugin that caused it
 *   (checked on Node 20 for timers, immediates, nextTick, promises, EventEmitters fed by child
 *   processes, readline over a child's stdout, fs streams, and fetch);
 * - every timer and handle created in the scope is recorded (an async_hooks `init` hook), so a faulty
 *   instance is torn down with all of it, even what its own `close()` forgot.
 * Limits: an EventEmitter emitted from another context runs in the emitter's context; a socket a
 * plugin's server accepts does not carry the context on Node 20 (its `connection` handler does); and a
 * resource a plugin gets from shared code (a shared client) belongs to whoever created it: shared
 * facilities must create their resources through {@link outsidePluginScope}.
 */
import { AsyncLocalStorage, createHook } from 'node:async_hooks';

/** How a fault escaped the plugin's own error handling. */
export type FaultKind = 'uncaughtException' | 'unhandledRejection';

/** What {@link PluginScope.dispose} released. */
export interface DisposeSummary {
  timers: number;
  children: number;
  handles: number;
}

/** The async context and resources of one plugin instance (one generation). */
export interface PluginScope {
  readonly pluginId: string;
  /** Counts instances of the same plugin: 1 for the first, +1 per recreation. */
  readonly generation: number;
  /** True once {@link dispose} ran; faults from a disposed scope belong to an instance already gone. */
  readonly disposed: boolean;
  /** Runs `fn` (and whatever it starts) inside the scope. */
  run<T>(fn: () => T): T;
  /** Called by the fault router for an uncaught error attributed to this scope. */
  fault(error: unknown, kind: FaultKind): void;
  /** Clears the scope's live timers, kills its child processes and destroys its sockets, streams and servers. */
  dispose(): DisposeSummary;
  /** Live tracked resources, by kind (for tests and `/status`). */
  resources(): DisposeSummary;
}

const storage = new AsyncLocalStorage<PluginScope>();

/** async_hooks resource types a scope owns; fs requests, DNS and promises end by themselves. */
const TIMER_TYPES = new Set(['Timeout']);
const CHILD_TYPES = new Set(['PROCESSWRAP']);
const HANDLE_TYPES = new Set(['PIPEWRAP', 'TCPWRAP', 'TCPSERVERWRAP', 'PIPESERVERWRAP', 'UDPWRAP', 'FSEVENTWRAP', 'STATWATCHER', 'TTYWRAP']);

interface Tracked {
  kind: 'timers' | 'children' | 'handles';
  resource: object;
}

const trackedByScope = new WeakMap<PluginScope, Tracked[]>();
let hookEnabled = false;

function enableTracking(): void {
  if (hookEnabled) return;
  hookEnabled = true;
  // Only an `init` hook: no destroy hook, which would make Node track every promise's end.
  createHook({
    init(_asyncId, type, _triggerAsyncId, resource) {
      const kind = TIMER_TYPES.has(type) ? 'timers' : CHILD_TYPES.has(type) ? 'children' : HANDLE_TYPES.has(type) ? 'handles' : undefined;
      if (!kind) return;
      const scope = storage.getStore();
      if (!scope) return;
      const list = trackedByScope.get(scope);
      if (!list) return;
      list.push({ kind, resource });
      // Amortized pruning keeps a plugin that makes a timer per collection from growing the list.
      if (list.length >= 256 && list.length % 256 === 0) {
        const live = list.filter((entry) => isLive(entry));
        list.length = 0;
        list.push(...live);
      }
    },
  }).enable();
}

/** The JS object that owns a native handle (net.Socket, net.Server, ChildProcess): Node links it with an internal symbol. */
function ownerOf(resource: object): Record<string, unknown> | undefined {
  const symbol = Object.getOwnPropertySymbols(resource).find((s) => s.description === 'owner_symbol');
  const owner = symbol ? (resource as Record<symbol, unknown>)[symbol] : undefined;
  return typeof owner === 'object' && owner !== null ? (owner as Record<string, unknown>) : undefined;
}

function isLive({ kind, resource }: Tracked): boolean {
  const r = resource as Record<string, unknown>;
  if (kind === 'timers') return r['_destroyed'] !== true;
  const owner = ownerOf(resource);
  if (!owner) return false;
  if (kind === 'children') return owner['exitCode'] === null && owner['signalCode'] === null;
  if ('destroyed' in owner) return owner['destroyed'] !== true;
  return owner['_handle'] !== null && owner['_handle'] !== undefined;
}

function release({ kind, resource }: Tracked): void {
  if (kind === 'timers') {
    clearTimeout(resource as NodeJS.Timeout);
    return;
  }
  const owner = ownerOf(resource);
  if (!owner) return;
  if (kind === 'children') {
    // No grace period: the instance already had its chance in close(); a hung helper must not outlive it.
    (owner['kill'] as ((signal: string) => boolean) | undefined)?.call(owner, 'SIGKILL');
    return;
  }
  const destroy = (owner['destroy'] ?? owner['close']) as (() => void) | undefined;
  try {
    destroy?.call(owner);
  } catch {
    // Already closing: nothing more to release.
  }
}

/** Creates the scope of one plugin instance; `onFault` gets the errors attributed to it. */
export function createPluginScope(pluginId: string, generation: number, onFault: (scope: PluginScope, error: unknown, kind: FaultKind) => void): PluginScope {
  enableTracking();
  let disposed = false;
  const tracked: Tracked[] = [];
  const count = (entries: Tracked[]): DisposeSummary => ({
    timers: entries.filter((e) => e.kind === 'timers').length,
    children: entries.filter((e) => e.kind === 'children').length,
    handles: entries.filter((e) => e.kind === 'handles').length,
  });
  const scope: PluginScope = {
    pluginId,
    generation,
    get disposed() {
      return disposed;
    },
    run: (fn) => storage.run(scope, fn),
    fault: (error, kind) => onFault(scope, error, kind),
    dispose() {
      disposed = true;
      const live = tracked.filter((entry) => isLive(entry));
      tracked.length = 0;
      for (const entry of live) release(entry);
      return count(live);
    },
    resources: () => count(tracked.filter((entry) => isLive(entry))),
  };
  trackedByScope.set(scope, tracked);
  return scope;
}

/** The plugin scope the calling code runs in, if any (undefined in core's own code). */
export function currentPluginScope(): PluginScope | undefined {
  return storage.getStore();
}

/**
 * Runs `fn` outside any plugin scope: for resources shared by several plugins (a shared Docker client,
 * a cache), which must neither be torn down with the plugin that happened to create them first nor
 * have their faults blamed on it.
 */
export function outsidePluginScope<T>(fn: () => T): T {
  return storage.exit(fn);
}
