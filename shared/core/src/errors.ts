/**
 * Codes carried by {@link ScopePluginError}: one table, holding only the failures core actually throws (a refused
 * control or request is answered as data, `{"error": ...}`, not thrown).
 */
export const ERROR_CODES = {
  SOCKET_IN_USE: 'another live process already serves this plugin socket',
  SOCKET_PATH: 'the socket path cannot be used',
  COLLECT_FAILED: 'the collector threw',
  COLLECT_TIMEOUT: 'the collector did not finish in time',
  CONTROL_FAILED: 'the control handler failed',
  METRICS_LISTEN: 'the metrics endpoint cannot listen',
} as const;

/** A runtime failure code; see {@link ERROR_CODES}. */
export type ScopePluginErrorCode = keyof typeof ERROR_CODES;

/** The one error type core throws at run time; the original failure, if any, is in `cause`. */
export class ScopePluginError extends Error {
  /** Machine-readable code from {@link ERROR_CODES}. */
  readonly code: ScopePluginErrorCode;

  constructor(code: ScopePluginErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ScopePluginError';
    this.code = code;
  }
}

/** Short human text for any thrown value, for log lines and `{"error": ...}` answers. */
export function describeError(error: unknown): string {
  if (error instanceof Error) {
    const cause = error.cause instanceof Error ? `: ${error.cause.message}` : '';
    return `${error.message}${cause}`;
  }
  return String(error);
}
