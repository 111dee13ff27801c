import { GRPC_STATUS as grpcStatus } from './grpc-status.js';

/** Why a CRI runtime cannot be used, and how to fix it. */
export interface CriFailure {
  /** Stable key for one log line per state: `ENOENT`, `EACCES`, `ECONNREFUSED`, `TIMEOUT`, `UNIMPLEMENTED`, ... */
  code: string;
  reason: string;
}

/** Turns a gRPC or socket error into a one-line reason with the fix. */
export function describeCriFailure(error: unknown, endpoint: string): CriFailure {
  const err = error as { code?: unknown; details?: unknown; message?: unknown } | null;
  const text = `${typeof err?.details === 'string' ? err.details : ''} ${typeof err?.message === 'string' ? err.message : String(error)}`;
  if (/ENOENT/.test(text)) return { code: 'ENOENT', reason: `no socket at ${endpoint}: is the runtime running, and is its socket mounted into this container?` };
  if (/EACCES|EPERM/.test(text)) return { code: 'EACCES', reason: `permission denied on ${endpoint}: the CRI socket is root-only; run as root` };
  if (/ECONNREFUSED/.test(text)) return { code: 'ECONNREFUSED', reason: `connection refused on ${endpoint}: the runtime is not listening (stopped or restarting)` };
  if (err?.code === grpcStatus.DEADLINE_EXCEEDED) return { code: 'TIMEOUT', reason: `${endpoint} did not answer in time` };
  if (err?.code === grpcStatus.UNIMPLEMENTED) {
    return { code: 'UNIMPLEMENTED', reason: `${endpoint} does not serve the CRI API runtime.v1 (containerd: is the cri plugin disabled? needs containerd ≥ 1.6 or CRI-O ≥ 1.20)` };
  }
  if (err?.code === grpcStatus.UNAVAILABLE) return { code: 'UNAVAILABLE', reason: `${endpoint} unavailable: ${text.trim()}` };
  return { code: typeof err?.code === 'number' ? `GRPC_${err.code}` : 'ERROR', reason: `${endpoint}: ${text.trim()}` };
}
