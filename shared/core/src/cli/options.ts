import { Command, Option } from 'commander';
import { LOG_LEVELS, validateLogLevel } from '../log.js';
import { DEFAULT_PLUGINS_ROOT } from '../protocol/ids.js';
import type { ResolvedPluginDefinition } from '../plugin/define.js';
import { parseListenAddress, type ListenAddress } from '../metrics/listen-address.js';

/** Flags every bin accepts. */
export interface CommonFlags {
  root: string;
  once: boolean;
  logLevel: (typeof LOG_LEVELS)[number];
  procRoot: string;
  sysRoot: string;
  intervalMs?: number;
  socketMode: number;
  /** Where `GET /metrics` is served; absent: no metrics endpoint (no TCP listener at all). */
  metricsListen?: ListenAddress;
}

/** Parses a positive integer flag; throws a TypeError showing the bad text. */
export function parsePositiveInt(name: string): (text: string) => number {
  return (text) => {
    const value = Number(text);
    if (!Number.isSafeInteger(value) || value <= 0) throw new TypeError(`${name} must be a positive integer, got ${JSON.stringify(text)}`);
    return value;
  };
}

function parseMode(text: string): number {
  if (!/^0?[0-7]{3}$/.test(text)) throw new TypeError(`--socket-mode must be an octal mode such as 600 or 660, got ${JSON.stringify(text)}`);
  return Number.parseInt(text, 8);
}

/** Adds the common flags (`--root`, `--once`, `--log-level`, ...) to a commander command. */
export function addCommonOptions(command: Command): Command {
  return command
    .addOption(new Option('--root <dir>', 'plugins root the Scope probe scans').env('SCOPE_PLUGINS_ROOT').default(DEFAULT_PLUGINS_ROOT))
    .addOption(new Option('--once', 'collect, print one report as JSON on stdout, and exit').default(false))
    .addOption(new Option('--log-level <level>', 'debug, info, warn, error or silent').choices(LOG_LEVELS.slice()).env('SCOPE_PLUGINS_LOG_LEVEL').default('info'))
    .addOption(new Option('--interval-ms <ms>', "collection interval (default: each plugin's own)").argParser(parsePositiveInt('--interval-ms')))
    .addOption(new Option('--proc-root <dir>', 'where to read /proc from (a host /proc mounted in a container)').env('SCOPE_PLUGINS_PROC_ROOT').default('/proc'))
    .addOption(new Option('--sys-root <dir>', 'where to read /sys from').env('SCOPE_PLUGINS_SYS_ROOT').default('/sys'))
    .addOption(new Option('--socket-mode <octal>', 'permissions of each plugin socket').argParser(parseMode).default(0o600, '600'))
    .addOption(
      new Option('--metrics-listen <addr>', 'serve Prometheus/OpenMetrics at http://ADDR/metrics for every plugin of the process: PORT (loopback only) or HOST:PORT (off by default)')
        .env('SCOPE_PLUGINS_METRICS_LISTEN')
        .argParser(parseListenAddress),
    );
}

/** Adds every plugin's own flags; a flag shared by two plugins (same name) is added once. */
export function addPluginOptions(command: Command, definitions: ResolvedPluginDefinition[]): Command {
  const seen = new Set<string>();
  for (const definition of definitions) {
    for (const spec of definition.options) {
      const option = new Option(spec.flags, `${spec.description}${definitions.length > 1 ? ` [${definition.id}]` : ''}`);
      if (seen.has(option.attributeName())) continue;
      seen.add(option.attributeName());
      if (spec.env) option.env(spec.env);
      if (spec.parse) option.argParser(spec.parse as (value: string, previous: unknown) => unknown);
      if (spec.default !== undefined) option.default(spec.default);
      command.addOption(option);
    }
  }
  return command;
}

/** Reads the common flags back from parsed commander options, validated. */
export function readCommonFlags(opts: Record<string, unknown>): CommonFlags {
  return {
    root: String(opts['root']),
    once: opts['once'] === true,
    logLevel: validateLogLevel(opts['logLevel']),
    procRoot: String(opts['procRoot']),
    sysRoot: String(opts['sysRoot']),
    ...(typeof opts['intervalMs'] === 'number' ? { intervalMs: opts['intervalMs'] } : {}),
    socketMode: typeof opts['socketMode'] === 'number' ? opts['socketMode'] : 0o600,
    ...(opts['metricsListen'] ? { metricsListen: typeof opts['metricsListen'] === 'string' ? parseListenAddress(opts['metricsListen']) : (opts['metricsListen'] as ListenAddress) } : {}),
  };
}
