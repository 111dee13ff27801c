import type { Server } from 'node:http';
import { performance } from 'node:perf_hooks';
import { ScopePluginError, describeError } from '../errors.js';
import type { Logger } from '../log.js';
import { UNCHANGED, type CollectResult, type PluginInstance, type ResolvedPluginDefinition } from '../plugin/define.js';
import type { PluginHealth } from '../plugin/runtime.js';
import { validateMetricFamilies, type MetricFamily } from './family.js';
import { createExposition, type Exposition } from './exposition.js';
import { HEALTH_FAMILIES, MAX_PLUGINS } from './health.js';
import type { ListenAddress } from './listen-address.js';
import { createMetricsServer, listenMetricsServer, METRICS_PATH } from './server.js';
import { createMetricsBatch, type MetricsSnapshot, type RecordedSeries } from './sink.js';

interface PluginMetricsState {
  id: string;
  families: readonly MetricFamily[];
  snapshot: MetricsSnapshot | undefined;
  created: boolean;
  createErrors: number;
  collectErrors: number;
  dropped: number;
  durationSeconds: number | undefined;
  lastSuccessSeconds: number | undefined;
  successes: number;
  health: (() => PluginHealth) | undefined;
  /** Marks a read of the plugin's data (keeps it out of, or wakes it from, the idle rule). */
  touch: (() => void) | undefined;
}

/** One metrics endpoint for every plugin of the process. */
export interface MetricsHub {
  /**
   * Returns the definition with each collection given a sink (`ctx.metrics`) whose series are published when, and
   * only when, the collection succeeds: the page always shows the same collection as the Scope report.
   */
  instrument(definition: ResolvedPluginDefinition): ResolvedPluginDefinition;
  /** Adds a started plugin's health (misses, staleness, guard violations) to the health families. */
  watch(plugin: { id: string; health(): PluginHealth; touch?(): void }): void;
  /** Every family on the page: the health ones, then each plugin's. */
  families(): MetricFamily[];
  /** Starts serving `GET /metrics`; resolves with the URL. */
  listen(address: ListenAddress): Promise<string>;
  /** Stops the endpoint. Idempotent. */
  close(): Promise<void>;
}

const HEALTH_LIST: readonly MetricFamily[] = Object.values(HEALTH_FAMILIES);

function healthSeries(family: MetricFamily, plugins: readonly PluginMetricsState[]): RecordedSeries[] {
  const out: RecordedSeries[] = [];
  for (const p of plugins) {
    const health = p.health?.();
    const one = (value: number | undefined) => {
      if (value !== undefined) out.push({ labelValues: [p.id], value });
    };
    switch (family) {
      case HEALTH_FAMILIES.up:
        one(p.created && health !== undefined && !health.stale && p.successes > 0 ? 1 : 0);
        break;
      case HEALTH_FAMILIES.lastSuccess:
        one(p.lastSuccessSeconds);
        break;
      case HEALTH_FAMILIES.collections:
        one(p.successes);
        break;
      case HEALTH_FAMILIES.errors:
        out.push({ labelValues: [p.id, 'collect'], value: p.collectErrors }, { labelValues: [p.id, 'create'], value: p.createErrors });
        break;
      case HEALTH_FAMILIES.consecutiveMisses:
        one(health?.consecutiveMisses);
        break;
      case HEALTH_FAMILIES.duration:
        one(p.durationSeconds);
        break;
      case HEALTH_FAMILIES.guardViolations:
        one(health?.guardViolations);
        break;
      case HEALTH_FAMILIES.dropped:
        one(p.dropped);
        break;
      default:
        break;
    }
  }
  return out;
}

/** Creates the hub; nothing listens and prom-client is not loaded until {@link MetricsHub.listen}. */
export function createMetricsHub(log: Logger): MetricsHub {
  const plugins: PluginMetricsState[] = [];
  const owner = new Map<string, PluginMetricsState>();
  let server: Server | undefined;
  let closing: Promise<void> | undefined;

  const read = (family: MetricFamily): Iterable<RecordedSeries> => {
    const state = owner.get(family.name);
    if (!state) {
      // Every scrape reads the health families: a scrape is a reader like Scope's probe, so a plugin
      // read only by Prometheus does not go idle.
      for (const p of plugins) p.touch?.();
      return healthSeries(family, plugins);
    }
    return state.snapshot?.series.get(family.name)?.values() ?? [];
  };

  return {
    instrument(definition) {
      if (plugins.length >= MAX_PLUGINS) throw new TypeError(`at most ${MAX_PLUGINS} plugins per metrics endpoint`);
      const families = validateMetricFamilies(`plugin ${definition.id}`, definition.metrics ?? []);
      const state: PluginMetricsState = {
        id: definition.id,
        families,
        snapshot: undefined,
        created: false,
        createErrors: 0,
        collectErrors: 0,
        dropped: 0,
        durationSeconds: undefined,
        lastSuccessSeconds: undefined,
        successes: 0,
        health: undefined,
        touch: undefined,
      };
      for (const family of families) {
        if (owner.has(family.name) || HEALTH_LIST.some((h) => h.name === family.name)) {
          throw new TypeError(`plugin ${definition.id}: metric ${family.name} is already declared by ${owner.get(family.name)?.id ?? 'core'}`);
        }
        owner.set(family.name, state);
      }
      plugins.push(state);
      return {
        ...definition,
        async create(ctx) {
          let instance: PluginInstance;
          try {
            instance = await definition.create(ctx);
          } catch (error) {
            state.createErrors++;
            // A re-creation after a fault that fails leaves the plugin down, whatever ran before.
            state.created = false;
            throw error;
          }
          state.created = true;
          const collect: PluginInstance['collect'] = async (collectCtx) => {
            const batch = createMetricsBatch(families);
            const startedMs = performance.now();
            let settled = false;
            // A timeout aborts the collection's signal while the plugin itself keeps running: that is an error.
            const onAbort = () => {
              if (!settled && !ctx.signal.aborted) state.collectErrors++;
            };
            collectCtx.signal.addEventListener('abort', onAbort, { once: true });
            let result: CollectResult;
            try {
              result = await instance.collect({ ...collectCtx, metrics: batch.sink });
            } catch (error) {
              if (!collectCtx.signal.aborted) state.collectErrors++;
              throw error;
            } finally {
              settled = true;
              collectCtx.signal.removeEventListener('abort', onAbort);
            }
            // An abandoned collection that finishes late must not publish: the runtime kept the older report too.
            // Nor does a warm-up, whose report the runtime drops.
            if (collectCtx.signal.aborted || collectCtx.warmup) return result;
            for (const count of batch.dropped().values()) state.dropped += count;
            const snapshot = batch.snapshot();
            // UNCHANGED with nothing written: the series are the previous collection's, as the report is.
            if (result !== UNCHANGED || snapshot.series.size > 0 || state.snapshot === undefined) state.snapshot = snapshot;
            // Microseconds are all a timer this coarse can say; more digits would only be noise on the page.
            state.durationSeconds = Math.round((performance.now() - startedMs) * 1000) / 1e6;
            state.lastSuccessSeconds = collectCtx.now.getTime() / 1000;
            state.successes++;
            return result;
          };
          // A proxy rather than a copy: control/close and anything added to instances later keep their `this`.
          return new Proxy(instance, {
            get(target, property) {
              if (property === 'collect') return collect;
              const value: unknown = Reflect.get(target, property, target);
              return typeof value === 'function' ? value.bind(target) : value;
            },
          });
        },
      };
    },
    watch(plugin) {
      const state = plugins.find((p) => p.id === plugin.id);
      if (state) {
        state.health = () => plugin.health();
        state.touch = plugin.touch ? () => plugin.touch!() : undefined;
      }
    },
    families() {
      return [...HEALTH_LIST, ...plugins.flatMap((p) => p.families)];
    },
    async listen(address) {
      if (server) throw new ScopePluginError('METRICS_LISTEN', 'the metrics endpoint is already listening');
      const exposition: Exposition = await createExposition(this.families(), read);
      const created = createMetricsServer(exposition, log);
      let bound;
      try {
        bound = await listenMetricsServer(created, address);
      } catch (cause) {
        throw new ScopePluginError('METRICS_LISTEN', `cannot listen on ${address.host}:${address.port} for --metrics-listen: ${describeError(cause)}`, { cause });
      }
      server = created;
      const host = bound.family === 'IPv6' ? `[${bound.address}]` : bound.address;
      const url = `http://${host}:${bound.port}${METRICS_PATH}`;
      if (address.loopback) {
        log.info('serving metrics (loopback only)', { url });
      } else {
        // Explicit choice of the user, but say it: the page names processes and containers of this host.
        log.warn('serving metrics on a non-loopback address, as asked: anyone who can reach it can read process and container names', { url });
      }
      return url;
    },
    close() {
      closing ??= (async () => {
        const s = server;
        if (!s) return;
        s.closeAllConnections();
        await new Promise<void>((resolve) => s.close(() => resolve()));
      })();
      return closing;
    },
  };
}
