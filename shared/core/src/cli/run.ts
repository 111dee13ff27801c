import { Command } from 'commander';
import { describeError } from '../errors.js';
import { createLogger, type Logger } from '../log.js';
import type { ResolvedPluginDefinition } from '../plugin/define.js';
import { installFaultHandlers } from '../plugin/faults.js';
import { resolveOptionValues, type FlagStyle } from '../plugin/options.js';
import { collectOnce, startPlugin, type RunningPlugin, type RuntimeOptions } from '../plugin/runtime.js';
import { readHostId } from '../protocol/ids.js';
import { createMetricsHub } from '../metrics/hub.js';
import { addCommonOptions, addPluginOptions, readCommonFlags, type CommonFlags } from './options.js';
import { limitV8Memory } from './v8-memory.js';

/** Options of {@link runPlugins}. */
export interface RunPluginsOptions {
  /** Per plugin id, its option input (text from flags/env or typed values); validated before anything starts. */
  options?: Record<string, Record<string, unknown>>;
  /** How flags are named in error messages. @default 'bin' for one plugin, 'suite' for several */
  style?: FlagStyle;
  /** Lines to log as warnings once the logger exists (deprecated flags and env names). */
  warnings?: string[];
  /** Runtime options no flag reaches (retry and idle timings, for tests). */
  overrides?: Partial<RuntimeOptions>;
}

/**
 * Runs the given plugins in this process until SIGTERM/SIGINT/SIGHUP (or prints one report each with
 * `--once`).
 */
export async function runPlugins(definitions: ResolvedPluginDefinition[], flags: CommonFlags, run: RunPluginsOptions = {}): Promise<void> {
  const style = run.style ?? (definitions.length > 1 ? 'suite' : 'bin');
  // Every value is checked before any socket opens: a typo fails the start, naming the flag and env var.
  const resolved = new Map(definitions.map((d) => [d.id, resolveOptionValues(d.id, d.options, run.options?.[d.id] ?? {}, style)]));
  const log = createLogger({ level: flags.logLevel });
  for (const warning of run.warnings ?? []) log.warn(warning);
  const hostId = readHostId();
  const runtime = {
    root: flags.root,
    hostId,
    log,
    procRoot: flags.procRoot,
    sysRoot: flags.sysRoot,
    socketMode: flags.socketMode,
    ...(flags.intervalMs ? { intervalMs: flags.intervalMs } : {}),
    ...(flags.idleAfterMs === undefined ? {} : { idleAfterMs: flags.idleAfterMs }),
    ...run.overrides,
  };
  if (flags.once) {
    const reports = await Promise.all(definitions.map((d) => collectOnce(d, { ...runtime, options: resolved.get(d.id)! })));
    const out = reports.length === 1 ? reports[0] : Object.fromEntries(definitions.map((d, i) => [d.id, reports[i]]));
    process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
    return;
  }
  const running: RunningPlugin[] = [];
  // One endpoint for every plugin of the process, and only when asked: no flag, no TCP listener.
  const metrics = flags.metricsListen ? createMetricsHub(log) : undefined;
  const stopAll = async () => {
    await Promise.allSettled([...running.map((p) => p.stop()), metrics?.close()]);
  };
  installSignalHandlers(log, stopAll);
  if (metrics && flags.metricsListen) {
    definitions = definitions.map((d) => metrics.instrument(d));
    await metrics.listen(flags.metricsListen);
  }
  for (const definition of definitions) {
    try {
      running.push(await startPlugin(definition, { ...runtime, options: resolved.get(definition.id)! }));
      metrics?.watch(running[running.length - 1]!);
    } catch (error) {
      log.error('cannot start plugin', { plugin: definition.id, error: describeError(error) });
      await stopAll();
      process.exitCode = 1;
      throw error;
    }
  }
}

function installSignalHandlers(log: Logger, stopAll: () => Promise<void>): void {
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info('shutting down', { signal });
    void stopAll().finally(() => process.exit(0));
  };
  // `on`, not `once`: libraries using signal-exit (execa) re-raise the signal when they see no other listener left.
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGHUP', () => stop('SIGHUP'));
  // An error escaping a plugin's callbacks is contained to that plugin (torn down, recreated with
  // backoff); only one from core itself ends the process. Sockets are removed by the exit hook.
  installFaultHandlers(log);
}

/** Builds the commander program of a single-plugin bin (`scope-<id>`). */
export function createPluginProgram(definition: ResolvedPluginDefinition): Command {
  const program = new Command(`scope-${definition.id}`)
    .description(`${definition.label}: ${definition.description}\n\nServes the Weave Scope plugin socket <root>/${definition.id}/${definition.id}.sock. The host id is $SCOPE_HOSTNAME, else the hostname, as Scope derives it.`)
    .showHelpAfterError();
  addCommonOptions(program);
  const pluginOptions = addPluginOptions(program, [definition], 'bin');
  program.action(async (opts: Record<string, unknown>, command: Command) => {
    await runPlugins([definition], readCommonFlags(opts), { ...pluginOptions.read(command), style: 'bin' });
  });
  return program;
}

/** Entry point of a single-plugin bin: applies limitV8Memory, parses flags, runs the plugin. */
export async function runPluginCli(definition: ResolvedPluginDefinition, argv: string[] = process.argv): Promise<void> {
  // A bin's program is loaded by now, so the young generation stays at the size loading gave it (~2 × 2 MiB)
  // rather than 2 × 1 MiB; calling limitV8Memory before importing the program, as the suite does, gets that too.
  limitV8Memory();
  try {
    await createPluginProgram(definition).parseAsync(argv);
  } catch (error) {
    process.stderr.write(`scope-${definition.id}: ${describeError(error)}\n`);
    process.exit(process.exitCode && process.exitCode !== 0 ? process.exitCode : 1);
  }
}
