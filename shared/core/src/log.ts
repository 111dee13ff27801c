/** Log levels, least to most severe. */
export const LOG_LEVELS = ['debug', 'info', 'warn', 'error', 'silent'] as const;

/** One of {@link LOG_LEVELS}. */
export type LogLevel = (typeof LOG_LEVELS)[number];

/** Structured fields appended to a log line as `key=value`. */
export type LogFields = Record<string, string | number | boolean | undefined | null>;

/** A small leveled logger writing one logfmt-style line per event. */
export interface Logger {
  readonly level: LogLevel;
  debug(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
  /**
   * Logs only when `state` differs from the last state logged under `key`: one line per state change, not
   * per poll. States are compared after {@link normalizeTransitionState}; at most `maxStates` keys are remembered.
   */
  transition(key: string, state: string, level: Exclude<LogLevel, 'silent'>, message: string, fields?: LogFields): void;
  /** A logger that adds `fields` to every line. */
  child(fields: LogFields): Logger;
}

/** Options of {@link createLogger}. */
export interface LoggerOptions {
  /** @default 'info' */
  level?: LogLevel;
  /** Where lines go. @default process.stderr */
  write?: (line: string) => void;
  /** Fields on every line. @default {} */
  fields?: LogFields;
  /** Most state keys {@link Logger.transition} remembers; the least recently used is forgotten first. @default 1024 */
  maxStates?: number;
}

/** Default of {@link LoggerOptions.maxStates}. */
export const MAX_TRANSITION_STATES = 1024;

/**
 * The part of a transition state that counts: digit runs and long hex ids (pids, byte counts, durations,
 * container ids) are masked and the text is cut at 120 characters, so a state that embeds a free-text
 * message does not log again each time only a number or an id in it changes.
 */
export function normalizeTransitionState(state: string): string {
  return state.replace(/[0-9a-f]{12,}/gi, '#').replace(/\d+/g, '#').slice(0, 120);
}

/** Throws a TypeError unless `level` is a known log level. */
export function validateLogLevel(level: unknown): LogLevel {
  if (typeof level !== 'string' || !(LOG_LEVELS as readonly string[]).includes(level)) {
    throw new TypeError(`log level must be one of ${LOG_LEVELS.join(', ')}, got ${JSON.stringify(level)}`);
  }
  return level as LogLevel;
}

function formatValue(value: string | number | boolean): string {
  const text = String(value);
  return /^[^\s"=]+$/.test(text) ? text : JSON.stringify(text);
}

/** Creates a {@link Logger}. */
export function createLogger(options: LoggerOptions = {}): Logger {
  const level = validateLogLevel(options.level ?? 'info');
  const write = options.write ?? ((line: string) => process.stderr.write(`${line}\n`));
  const threshold = LOG_LEVELS.indexOf(level);
  const maxStates = options.maxStates ?? MAX_TRANSITION_STATES;
  if (!Number.isSafeInteger(maxStates) || maxStates < 1) throw new TypeError(`maxStates must be a positive integer, got ${JSON.stringify(maxStates)}`);
  // Shared between a logger and its children so a state change is logged once. Keys hold pids, container
  // ids and inodes on a busy host, so the map is bounded: least recently used first out (Map keeps
  // insertion order; a touched key is moved to the end). A forgotten key logs its state once more.
  const states = new Map<string, string>();

  const make = (base: LogFields): Logger => {
    const emit = (at: Exclude<LogLevel, 'silent'>, message: string, fields?: LogFields) => {
      if (LOG_LEVELS.indexOf(at) < threshold) return;
      const parts = [new Date().toISOString(), at, formatValue(message)];
      for (const [key, value] of Object.entries({ ...base, ...fields })) {
        if (value !== undefined && value !== null) parts.push(`${key}=${formatValue(value)}`);
      }
      write(parts.join(' '));
    };
    return {
      level,
      debug: (m, f) => emit('debug', m, f),
      info: (m, f) => emit('info', m, f),
      warn: (m, f) => emit('warn', m, f),
      error: (m, f) => emit('error', m, f),
      transition(key, state, at, message, fields) {
        const fullKey = `${JSON.stringify(base)}:${key}`;
        const normalized = normalizeTransitionState(state);
        const previous = states.get(fullKey);
        states.delete(fullKey);
        states.set(fullKey, normalized);
        if (previous === normalized) return;
        if (states.size > maxStates) states.delete(states.keys().next().value!);
        emit(at, message, fields);
      },
      child: (fields) => make({ ...base, ...fields }),
    };
  };
  return make(options.fields ?? {});
}
