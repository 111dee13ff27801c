import { Command, Option } from 'commander';
import { LOG_LEVELS, validateLogLevel } from '../log.js';
import { DEFAULT_PLUGINS_ROOT } from '../protocol/ids.js';
import type { ResolvedPluginDefinition } from '../plugin/define.js';
import { parseListenAddress, type ListenAddress } from '../metrics/listen-address.js';
import { COMMON_FLAG_NAMES, describeExpected, isNegatable, optionEnv, optionEnvNames, optionFlag, optionFlagName, type FlagStyle, type OptionSpec } from '../plugin/options.js';

/** Flags every bin accepts. */
export interface CommonFlags {
  root: string;
  once: boolean;
  logLevel: (typeof LOG_LEVELS)[number];
  procRoot: string;
  sysRoot: string;
  intervalMs?: number;
  /** No `GET /report` for this long: collect only once a minute until one comes (0: never idle). */
  idleAfterMs?: number;
  socketMode: number;
  /** Where `GET /metrics` is served; absent: no metrics endpoint (no TCP listener at all). */
  metricsListen?: ListenAddress;
}

/** Parses a non-negative integer flag (0 allowed); throws a TypeError showing the bad text. */
function parseNonNegativeInt(name: string): (text: string) => number {
  return (text) => {
    const value = Number(text);
    if (!Number.isSafeInteger(value) || value < 0) throw new TypeError(`${name} must be a non-negative integer, got ${JSON.stringify(text)}`);
    return value;
  };
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
    .addOption(new Option('--idle-after-ms <ms>', 'with no GET /report for this long (Scope not running), collect once a minute until the next one; 0 never idles').env('SCOPE_PLUGINS_IDLE_AFTER_MS').argParser(parseNonNegativeInt('--idle-after-ms')).default(30_000))
    .addOption(new Option('--proc-root <dir>', 'where to read /proc from (a host /proc mounted in a container)').env('SCOPE_PLUGINS_PROC_ROOT').default('/proc'))
    .addOption(new Option('--sys-root <dir>', 'where to read /sys from').env('SCOPE_PLUGINS_SYS_ROOT').default('/sys'))
    .addOption(new Option('--socket-mode <octal>', 'permissions of each plugin socket').argParser(parseMode).default(0o600, '600'))
    .addOption(
      new Option('--metrics-listen <addr>', 'serve Prometheus/OpenMetrics at http://ADDR/metrics for every plugin of the process: PORT (loopback only) or HOST:PORT (off by default)')
        .env('SCOPE_PLUGINS_METRICS_LISTEN')
        .argParser(parseListenAddress),
    );
}

/** A plugin option as commander sees it, and where its value goes. */
interface FlagBinding {
  pluginIds: string[];
  name: string;
  spec: OptionSpec;
  option: Option;
  /** The flag as typed, for messages. */
  flag: string;
  deprecated: boolean;
}

/** What the command line gave for every plugin option, before validation. */
export interface PluginOptionInput {
  /** Per plugin id: option name → text or boolean from a flag or the environment; absent when neither gave one. */
  options: Record<string, Record<string, unknown>>;
  /** One line per deprecated flag or environment variable used, saying what to use instead. */
  warnings: string[];
}

/** Reads plugin option values back after commander parsed the command line. */
export interface PluginOptionReader {
  /** Flags first, then `SCOPE_<PLUGIN>_<OPTION>`, the option's other env names, deprecated flags and env names. */
  read(command: Command, env?: NodeJS.ProcessEnv): PluginOptionInput;
}

function placeholder(spec: OptionSpec): string {
  switch (spec.type) {
    case 'number':
      return spec.unit && /^[a-z]+$/.test(spec.unit) ? spec.unit : 'n';
    case 'enum':
      return spec.values.join('|');
    case 'list':
      return 'list';
    case 'string':
      return spec.placeholder ?? 'value';
    case 'boolean':
      return '';
  }
}

function helpText(pluginId: string, name: string, spec: OptionSpec, style: FlagStyle): string {
  const envs = optionEnvNames(pluginId, name, spec)
    .filter((env) => !env.deprecated)
    .map((env) => env.name);
  const shown = spec.type === 'list' ? spec.default?.join(',') : spec.type === 'boolean' ? undefined : spec.default;
  const details = [`env ${envs.join(', ')}`, ...(spec.type === 'enum' || spec.type === 'list' ? [describeExpected(spec)] : []), ...(shown === undefined ? [] : [`default: ${JSON.stringify(shown)}`])];
  return `${spec.description}${style === 'suite' && spec.global ? ' [every plugin that uses it]' : ''} (${details.join('; ')})`;
}

function commanderFlags(flagName: string, spec: OptionSpec): string {
  return spec.type === 'boolean' ? `--${isNegatable(spec) ? 'no-' : ''}${flagName}` : `--${flagName} <${placeholder(spec)}>`;
}

/**
 * Adds every plugin's own flags: short in a plugin's bin (`--mode`), namespaced in the suite (`--iowait.mode`);
 * global options once (`--docker-host`). Commander only collects text here; values are validated once, by
 * {@link resolveOptionValues}, when the plugins start. Throws a TypeError if two plugins would claim one flag.
 */
export function addPluginOptions(command: Command, definitions: ResolvedPluginDefinition[], style: FlagStyle = definitions.length > 1 ? 'suite' : 'bin'): PluginOptionReader {
  const bindings = new Map<string, FlagBinding>();
  const ids = new Set<string>();
  for (const definition of definitions) {
    if (ids.has(definition.id)) throw new TypeError(`plugin ${definition.id} is given twice`);
    ids.add(definition.id);
  }
  const bind = (pluginId: string, name: string, spec: OptionSpec, flagName: string, deprecated: boolean) => {
    const key = `--${flagName}`;
    const existing = bindings.get(key);
    if (existing) {
      const same = !deprecated && !existing.deprecated && spec.global && existing.spec.global && existing.name === name && sameSpec(existing.spec, spec);
      if (!same) throw new TypeError(`flag ${key} is claimed by plugin ${existing.pluginIds.join(', ')} (option ${existing.name}) and plugin ${pluginId} (option ${name})${spec.global && existing.spec.global ? ': a global option must be declared alike by every plugin' : ''}`);
      existing.pluginIds.push(pluginId);
      return;
    }
    const option = new Option(commanderFlags(flagName, spec), deprecated ? `deprecated: use ${optionFlag(pluginId, name, spec, style)}` : helpText(pluginId, name, spec, style));
    if (deprecated) option.hideHelp();
    if (COMMON_FLAG_NAMES.includes(flagName)) throw new TypeError(`plugin ${pluginId}: option ${name} would take the common flag --${flagName}`);
    bindings.set(key, { pluginIds: [pluginId], name, spec, option, flag: commanderFlags(flagName, spec).split(' ')[0]!, deprecated });
    command.addOption(option);
  };
  for (const definition of definitions) {
    for (const [name, spec] of Object.entries(definition.options)) {
      const flagName = optionFlagName(definition.id, name, spec, style);
      bind(definition.id, name, spec, flagName, false);
      for (const old of spec.deprecatedFlags ?? []) if (old !== flagName) bind(definition.id, name, spec, old, true);
    }
  }
  return {
    read(parsed, env = process.env) {
      const options: Record<string, Record<string, unknown>> = Object.fromEntries(definitions.map((d) => [d.id, {}]));
      const warnings: string[] = [];
      const values = parsed.opts();
      // Non-deprecated flags first, so a new flag wins over an old one given on the same line.
      const ordered = [...bindings.values()].sort((a, b) => Number(a.deprecated) - Number(b.deprecated));
      for (const binding of ordered) {
        const attribute = binding.option.attributeName();
        // Commander gives a `--no-x` flag a default of true; only what was typed counts here.
        if (parsed.getOptionValueSource(attribute) !== 'cli') continue;
        for (const pluginId of binding.pluginIds) {
          const target = options[pluginId]!;
          if (target[binding.name] !== undefined) continue;
          target[binding.name] = values[attribute];
          if (binding.deprecated) warnings.push(`flag ${binding.flag} is deprecated; use ${optionFlag(pluginId, binding.name, binding.spec, style)}`);
        }
      }
      for (const definition of definitions) {
        const target = options[definition.id]!;
        for (const [name, spec] of Object.entries(definition.options)) {
          if (target[name] !== undefined) continue;
          for (const candidate of optionEnvNames(definition.id, name, spec)) {
            const text = env[candidate.name];
            if (text === undefined) continue;
            target[name] = text;
            if (candidate.deprecated) warnings.push(`environment variable ${candidate.name} is deprecated; use ${optionEnv(definition.id, name, spec)}`);
            break;
          }
        }
      }
      return { options, warnings: [...new Set(warnings)] };
    },
  };
}

function sameSpec(a: OptionSpec, b: OptionSpec): boolean {
  const shape = (spec: OptionSpec) => JSON.stringify({ ...spec, description: undefined, validate: undefined });
  return a === b || shape(a) === shape(b);
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
    ...(typeof opts['idleAfterMs'] === 'number' ? { idleAfterMs: opts['idleAfterMs'] } : {}),
    socketMode: typeof opts['socketMode'] === 'number' ? opts['socketMode'] : 0o600,
    ...(opts['metricsListen'] ? { metricsListen: typeof opts['metricsListen'] === 'string' ? parseListenAddress(opts['metricsListen']) : (opts['metricsListen'] as ListenAddress) } : {}),
  };
}
