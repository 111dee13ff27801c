/**
 * A plugin's option schema: declared once in `definePlugin({ options })`, turned into flags and environment
 * variables by the command line, validated here (once, with the flag, the env var and the bad value in the
 * message), and handed to `create` as typed values.
 */

/** What every option kind declares. */
interface OptionBase {
  /** One line for `--help`. */
  description: string;
  /**
   * Process-wide: one flag without the plugin's name (`--docker-host`, env `SCOPE_DOCKER_HOST`), shared by every
   * plugin of the process that declares it. Plugins declaring the same global option must declare it alike.
   * @default false
   */
  global?: boolean;
  /** Further environment variables read after `SCOPE_<PLUGIN>_<OPTION>` (e.g. Docker's own `DOCKER_HOST`). */
  env?: readonly string[];
  /** Older environment variable names, still read (after the others), with a deprecation warning. */
  deprecatedEnv?: readonly string[];
  /**
   * Older flag names without `--` (`iowait-mode`), still accepted (hidden from `--help`), with a deprecation
   * warning; in the suite too, as long as no other plugin claims the same name. A negatable boolean's old
   * name is given without `no-`.
   */
  deprecatedFlags?: readonly string[];
}

/** A text value. */
export interface StringOption extends OptionBase {
  type: 'string';
  default?: string;
  /** Throws (any error; its message is shown) when the text is not acceptable. */
  validate?: (value: string) => void;
  /** Placeholder in `--help`. @default 'value' */
  placeholder?: string;
  /** Accept `""` (e.g. "no filter"). @default false */
  allowEmpty?: boolean;
}

/** A finite number. */
export interface NumberOption extends OptionBase {
  type: 'number';
  default?: number;
  /** Smallest accepted value, inclusive. @default no minimum */
  min?: number;
  /** Only whole numbers. @default false */
  integer?: boolean;
  /** Unit for the help text and messages, e.g. `ms`. */
  unit?: string;
}

/** One of a fixed set of words. */
export interface EnumOption<V extends string = string> extends OptionBase {
  type: 'enum';
  values: readonly V[];
  default?: V;
}

/** On or off: a flag `--<name>` when off by default, `--no-<name>` when on by default. */
export interface BooleanOption extends OptionBase {
  type: 'boolean';
  /** @default false */
  default?: boolean;
}

/** A comma-separated list (duplicates dropped); with `values`, each item must be one of them and the list follows their order. */
export interface ListOption<V extends string = string> extends OptionBase {
  type: 'list';
  values?: readonly V[];
  default?: readonly V[];
}

/** One declared option. */
export type OptionSpec = StringOption | NumberOption | EnumOption | BooleanOption | ListOption;

/** A plugin's options by name (camelCase: `dockerHost` is `--docker-host`). */
export type OptionSchema = Record<string, OptionSpec>;

/** The value type of one option. */
export type OptionValue<S> = S extends { type: 'string' }
  ? string
  : S extends { type: 'number' }
    ? number
    : S extends { type: 'boolean' }
      ? boolean
      : S extends { type: 'enum'; values: readonly (infer V)[] }
        ? V
        : S extends { type: 'list'; values: readonly (infer V)[] }
          ? V[]
          : S extends { type: 'list' }
            ? string[]
            : never;

/** What `create` receives: every option's value; `undefined` only for an option without a default. */
export type OptionValues<O extends OptionSchema> = {
  readonly [K in keyof O]: O[K] extends { default: unknown } | { type: 'boolean' } ? OptionValue<O[K]> : OptionValue<O[K]> | undefined;
};

/** How flags are spelled: a plugin's own bin (`--mode`) or the suite, namespaced (`--iowait.mode`). */
export type FlagStyle = 'bin' | 'suite';

const OPTION_NAME = /^[a-z][a-zA-Z0-9]*$/;
const FLAG_NAME = /^[a-z][a-z0-9]*(-[a-z0-9]+)*$/;

/** Flags every bin has; a plugin option may not take these names. */
export const COMMON_FLAG_NAMES: readonly string[] = ['root', 'once', 'log-level', 'interval-ms', 'proc-root', 'sys-root', 'socket-mode', 'help', 'version'];

/** `dockerResyncMs` → `docker-resync-ms`. */
export function kebabCase(name: string): string {
  return name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

function envWord(text: string): string {
  return text.replace(/[A-Z]/g, (c) => `_${c}`).replace(/-/g, '_').toUpperCase();
}

/** True when the option is a boolean that is on unless `--no-<name>` is given. */
export function isNegatable(spec: OptionSpec): boolean {
  return spec.type === 'boolean' && spec.default === true;
}

/** The flag's name without `--` (and without `no-`): `mode` in a bin, `iowait.mode` in the suite, `docker-host` when global. */
export function optionFlagName(pluginId: string, name: string, spec: OptionSpec, style: FlagStyle): string {
  return style === 'suite' && !spec.global ? `${pluginId}.${kebabCase(name)}` : kebabCase(name);
}

/** The flag as typed: `--iowait.mode`, `--no-disk-info`, `--no-host-namespaces.docker`. */
export function optionFlag(pluginId: string, name: string, spec: OptionSpec, style: FlagStyle): string {
  return `--${isNegatable(spec) ? 'no-' : ''}${optionFlagName(pluginId, name, spec, style)}`;
}

/** The environment variable: `SCOPE_<PLUGIN>_<OPTION>` (`SCOPE_HOST_NAMESPACES_MAX_ROWS`), `SCOPE_<OPTION>` when global. */
export function optionEnv(pluginId: string, name: string, spec: OptionSpec): string {
  return spec.global ? `SCOPE_${envWord(name)}` : `SCOPE_${envWord(pluginId)}_${envWord(name)}`;
}

/** Every environment variable read for an option, in order of precedence, and whether each is deprecated. */
export function optionEnvNames(pluginId: string, name: string, spec: OptionSpec): { name: string; deprecated: boolean }[] {
  return [
    { name: optionEnv(pluginId, name, spec), deprecated: false },
    ...(spec.env ?? []).map((env) => ({ name: env, deprecated: false })),
    ...(spec.deprecatedEnv ?? []).map((env) => ({ name: env, deprecated: true })),
  ];
}

/** What a valid value looks like, for messages and `--help`. */
export function describeExpected(spec: OptionSpec): string {
  switch (spec.type) {
    case 'string':
      return spec.allowEmpty ? 'a string' : 'a non-empty string';
    case 'number': {
      const kind = spec.integer ? 'an integer' : 'a number';
      const unit = spec.unit ? ` (${spec.unit})` : '';
      return spec.min === undefined ? `${kind}${unit}` : `${kind} of at least ${spec.min}${unit}`;
    }
    case 'enum':
      return `one of ${spec.values.join(', ')}`;
    case 'boolean':
      return 'true or false';
    case 'list':
      return spec.values ? `a comma-separated list of ${spec.values.join(', ')}` : 'a comma-separated list';
  }
}

const TRUE_WORDS = new Set(['true', '1', 'yes', 'on']);
const FALSE_WORDS = new Set(['false', '0', 'no', 'off']);

/** Reason a value is refused, or the typed value. Text (from a flag or env) and typed values (programmatic) both work. */
function convert(spec: OptionSpec, value: unknown): { ok: true; value: unknown } | { ok: false; reason?: string } {
  switch (spec.type) {
    case 'string': {
      if (typeof value !== 'string' || (value === '' && !spec.allowEmpty)) return { ok: false };
      try {
        spec.validate?.(value);
      } catch (error) {
        return { ok: false, reason: error instanceof Error ? error.message : String(error) };
      }
      return { ok: true, value };
    }
    case 'number': {
      const number = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
      if (typeof number !== 'number' || !Number.isFinite(number)) return { ok: false };
      if (spec.integer && !Number.isSafeInteger(number)) return { ok: false };
      if (spec.min !== undefined && number < spec.min) return { ok: false };
      return { ok: true, value: number };
    }
    case 'enum':
      return typeof value === 'string' && spec.values.includes(value) ? { ok: true, value } : { ok: false };
    case 'boolean': {
      if (typeof value === 'boolean') return { ok: true, value };
      const word = typeof value === 'string' ? value.trim().toLowerCase() : undefined;
      if (word !== undefined && TRUE_WORDS.has(word)) return { ok: true, value: true };
      if (word !== undefined && FALSE_WORDS.has(word)) return { ok: true, value: false };
      return { ok: false };
    }
    case 'list': {
      const items = typeof value === 'string' ? value.split(',') : Array.isArray(value) ? value : undefined;
      if (!items || !items.every((item) => typeof item === 'string')) return { ok: false };
      const names = [...new Set((items as string[]).map((item) => item.trim()).filter((item) => item !== ''))];
      if (names.length === 0) return { ok: false, reason: 'the list is empty' };
      if (!spec.values) return { ok: true, value: names };
      const unknown = names.filter((name) => !spec.values!.includes(name));
      if (unknown.length > 0) return { ok: false, reason: `unknown ${unknown.map((name) => JSON.stringify(name)).join(', ')}` };
      // One canonical order (the declared one) so the same set always gives the same output.
      return { ok: true, value: spec.values.filter((name) => names.includes(name)) };
    }
  }
}

/**
 * Validates `input` (option name → text or typed value; absent or undefined → default) against the schema and
 * returns the typed values. Throws a TypeError naming the flag, the environment variable and the bad value.
 */
export function resolveOptionValues<O extends OptionSchema>(pluginId: string, schema: O, input: Readonly<Record<string, unknown>> = {}, style: FlagStyle = 'bin'): OptionValues<O> {
  const unknown = Object.keys(input).filter((key) => !Object.hasOwn(schema, key) && input[key] !== undefined);
  if (unknown.length > 0) {
    const known = Object.keys(schema);
    throw new TypeError(`plugin ${pluginId}: unknown option ${unknown.map((key) => JSON.stringify(key)).join(', ')} (its options: ${known.length > 0 ? known.join(', ') : 'none'})`);
  }
  const values: Record<string, unknown> = {};
  for (const [name, spec] of Object.entries(schema)) {
    const given = input[name];
    if (given === undefined) {
      values[name] = spec.type === 'boolean' ? (spec.default ?? false) : spec.type === 'list' && spec.default ? [...spec.default] : spec.default;
      continue;
    }
    const result = convert(spec, given);
    if (!result.ok) {
      const flag = optionFlag(pluginId, name, spec, style);
      const reason = result.reason ? ` (${result.reason})` : '';
      throw new TypeError(`${pluginId}: ${flag} (env ${optionEnv(pluginId, name, spec)}) must be ${describeExpected(spec)}, got ${JSON.stringify(given)}${reason}`);
    }
    values[name] = result.value;
  }
  return values as OptionValues<O>;
}

/** Checks a schema when the plugin is defined: names, kinds, defaults and flag names (no two alike, none a common flag). */
export function validateOptionSchema(pluginId: string, schema: unknown): OptionSchema {
  if (schema === undefined) return {};
  if (schema === null || typeof schema !== 'object' || Array.isArray(schema)) {
    throw new TypeError(`plugin ${pluginId}: options must be an object of option specs by name, got ${JSON.stringify(schema)}`);
  }
  const flags = new Map<string, string>();
  const claim = (flag: string, owner: string) => {
    if (COMMON_FLAG_NAMES.includes(flag)) throw new TypeError(`plugin ${pluginId}: option ${owner} would take the common flag --${flag}`);
    const previous = flags.get(flag);
    if (previous !== undefined && previous !== owner) throw new TypeError(`plugin ${pluginId}: options ${previous} and ${owner} both use the flag --${flag}`);
    flags.set(flag, owner);
  };
  for (const [name, spec] of Object.entries(schema as Record<string, OptionSpec>)) {
    if (!OPTION_NAME.test(name)) throw new TypeError(`plugin ${pluginId}: option name must be camelCase (${OPTION_NAME}), got ${JSON.stringify(name)}`);
    if (!spec || !['string', 'number', 'enum', 'boolean', 'list'].includes(spec.type)) {
      throw new TypeError(`plugin ${pluginId}: option ${name} needs a type (string, number, enum, boolean or list), got ${JSON.stringify(spec?.type)}`);
    }
    if (typeof spec.description !== 'string' || spec.description === '') throw new TypeError(`plugin ${pluginId}: option ${name} needs a description`);
    if (spec.type === 'enum' && (!Array.isArray(spec.values) || spec.values.length === 0)) throw new TypeError(`plugin ${pluginId}: enum option ${name} needs values`);
    claim(kebabCase(name), name);
    for (const old of spec.deprecatedFlags ?? []) {
      if (!FLAG_NAME.test(old)) throw new TypeError(`plugin ${pluginId}: option ${name}: deprecated flag must be a flag name without dashes, got ${JSON.stringify(old)}`);
      if (old !== kebabCase(name)) claim(old, name);
    }
    // A default that fails validation is a bug in the plugin: refuse it now, not on a user's command line.
    if (spec.default !== undefined) resolveOptionValues(pluginId, { [name]: spec } as OptionSchema, { [name]: spec.default });
  }
  return schema as OptionSchema;
}
