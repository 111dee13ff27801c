/** Codes carried by {@link ScopePluginError}; one table for every runtime failure core reports. */
export const ERROR_CODES = {
  SOCKET_IN_USE: 'another live process already serves this plugin socket',
  SOCKET_PATH: 'the socket path cannot be used',
  COLLECT_FAILED: 'the collector threw',
  COLLECT_TIMEOUT: 'the collector did not finish in time',
  BAD_REQUEST: 'the request could not be understood',
  BODY_TOO_LARGE: 'the request body is too large',
  UNKNOWN_CONTROL: 'the control is not one this plugin offers',
  UNKNOWN_NODE: 'the node is not in the current report',
  CONTROL_UNAVAILABLE: 'the control is not active on that node',
  CONTROL_FAILED: 'the control handler failed',
  GUARD: 'the report would break Scope',
  POLL_FAILED: 'the plugin could not be polled',
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
