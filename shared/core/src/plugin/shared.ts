/**
 * Resources shared by the plugins of one process (one Docker inventory per Docker host, say): created by the
 * first plugin that asks for a key, reference-counted, closed when the last holder lets go. Core knows
 * nothing of what they are; it only releases a plugin instance's holds when that instance closes.
 */
import { outsidePluginScope } from './scope.js';

/** Anything that can be shared: it is closed when its last holder releases it. */
export interface SharedResource {
  close(): void | Promise<void>;
}

/** One plugin instance's hold on a shared resource. */
export interface SharedLease<T extends SharedResource> {
  /** The resource; the same object for every holder of the key. */
  readonly value: T;
  /** True for the holder whose factory created the resource. */
  readonly created: boolean;
  /** Lets go of this hold (idempotent); the resource closes when no hold is left. Done for you when the plugin instance closes. */
  release(): Promise<void>;
}

/** `ctx.shared`: the resource under `key`, made by `create` if nobody holds it yet. */
export type AcquireShared = <T extends SharedResource>(key: string, create: () => T) => SharedLease<T>;

interface Entry {
  value: SharedResource;
  holds: number;
}

const registry = new Map<string, Entry>();

/** Keys currently held in this process, with their number of holders (for tests and `/status`-style diagnostics). */
export function sharedResourceHolds(): ReadonlyMap<string, number> {
  return new Map([...registry].map(([key, entry]) => [key, entry.holds]));
}

/** The holds of one plugin instance: `acquire` is its `ctx.shared`, `releaseAll` runs when it closes (or its `create` fails). */
export interface SharedScope {
  acquire: AcquireShared;
  releaseAll(): Promise<void>;
}

/** Opens a scope of holds for one plugin instance. */
export function createSharedScope(): SharedScope {
  const leases = new Set<SharedLease<SharedResource>>();
  const acquire: AcquireShared = <T extends SharedResource>(key: string, create: () => T): SharedLease<T> => {
    if (typeof key !== 'string' || key === '') throw new TypeError(`shared resource key must be a non-empty string, got ${JSON.stringify(key)}`);
    let entry = registry.get(key);
    const created = entry === undefined;
    if (!entry) {
      // Made outside the asking instance's scope: its timers and sockets must not be torn down with that instance.
      entry = { value: outsidePluginScope(create), holds: 0 };
      registry.set(key, entry);
    }
    entry.holds++;
    const held = entry;
    let released: Promise<void> | undefined;
    const lease: SharedLease<T> = {
      value: held.value as T,
      created,
      release() {
        released ??= (async () => {
          leases.delete(lease);
          held.holds--;
          if (held.holds > 0) return;
          // A newer entry under the same key (after a close) is not ours to remove.
          if (registry.get(key) === held) registry.delete(key);
          await held.value.close();
        })();
        return released;
      },
    };
    leases.add(lease);
    return lease;
  };
  return {
    acquire,
    async releaseAll() {
      await Promise.all([...leases].map((lease) => lease.release()));
    },
  };
}
