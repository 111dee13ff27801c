/** Why Docker cannot be used, with a stable code for one-line-per-change logging and a hint for the operator. */
export interface DockerFailure {
  /** Stable across retries of the same problem: `socket-missing`, `permission-denied`, `refused`, ... */
  code: string;
  /** One line: what happened and how to fix it. */
  reason: string;
}

function errorCode(error: unknown): string | undefined {
  for (let current: unknown = error, depth = 0; current && depth < 5; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string') return code;
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}

/** Classifies a failure to reach Docker at `endpoint` (a text form such as `unix:///var/run/docker.sock`). */
export function describeDockerFailure(error: unknown, endpoint: string): DockerFailure {
  const code = errorCode(error);
  const message = error instanceof Error ? error.message : String(error);
  const statusCode = (error as { statusCode?: unknown } | null)?.statusCode;
  switch (code) {
    case 'ENOENT':
      return { code: 'socket-missing', reason: `${endpoint} does not exist: start dockerd, or mount the host's Docker socket into this container (-v /var/run/docker.sock:/var/run/docker.sock), or set --docker-host/DOCKER_HOST` };
    case 'EACCES':
    case 'EPERM':
      return { code: 'permission-denied', reason: `permission denied on ${endpoint}: run as root or as a member of the socket's group (usually "docker")` };
    case 'ECONNREFUSED':
      return { code: 'refused', reason: `connection refused at ${endpoint}: dockerd is not running or not listening there` };
    case 'ECONNRESET':
    case 'EPIPE':
      return { code: 'reset', reason: `connection to ${endpoint} was lost: dockerd stopped or restarted` };
    case 'ETIMEDOUT':
    case 'ABORT_ERR':
      return { code: 'timeout', reason: `Docker at ${endpoint} did not answer in time` };
    default:
      break;
  }
  if (typeof statusCode === 'number') return { code: `http-${statusCode}`, reason: `Docker at ${endpoint} answered HTTP ${statusCode}: ${message}` };
  const name = (error as { name?: unknown } | null)?.name;
  if (name === 'TimeoutError' || name === 'AbortError') return { code: 'timeout', reason: `Docker at ${endpoint} did not answer in time` };
  return { code: `other:${message}`, reason: `Docker at ${endpoint} failed: ${message}` };
}
