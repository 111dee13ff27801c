/**
 * Process-wide routing of errors nobody caught: an error raised in a plugin's scope is handed to that
 * plugin's lifecycle (which tears the instance down and recreates it); only an error from core itself
 * (no plugin scope) ends the process.
 */
import { describeError } from '../errors.js';
import type { Logger } from '../log.js';
import { currentPluginScope, type FaultKind } from './scope.js';

let installed: { log: Logger; onCoreFault: (error: unknown, kind: FaultKind) => void } | undefined;

function route(error: unknown, kind: FaultKind): void {
  const scope = currentPluginScope();
  if (scope) {
    scope.fault(error, kind);
    return;
  }
  installed?.onCoreFault(error, kind);
}

/**
 * Installs the `uncaughtException` and `unhandledRejection` handlers once per process. `onCoreFault`
 * decides what a fault outside every plugin does (by default: log and exit 1, sockets are removed by
 * the exit hook).
 */
export function installFaultHandlers(log: Logger, onCoreFault?: (error: unknown, kind: FaultKind) => void): void {
  const handler =
    onCoreFault ??
    ((error: unknown, kind: FaultKind) => {
      const stack = error instanceof Error ? error.stack?.split('\n')[1]?.trim() : undefined;
      log.error(kind === 'unhandledRejection' ? 'fatal unhandled rejection in core, exiting' : 'fatal error, exiting', { error: describeError(error), stack });
      process.exit(1);
    });
  if (installed) {
    installed = { log, onCoreFault: handler };
    return;
  }
  installed = { log, onCoreFault: handler };
  process.on('uncaughtException', (error) => route(error, 'uncaughtException'));
  process.on('unhandledRejection', (reason) => route(reason, 'unhandledRejection'));
}
