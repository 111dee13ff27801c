import Docker from 'dockerode';
import type { NumberOption, StringOption } from '@scope-plugins/core';

/** Where Docker listens unless `--docker-host` or `DOCKER_HOST` says otherwise. */
export const DEFAULT_DOCKER_HOST = 'unix:///var/run/docker.sock';

/** A parsed Docker endpoint: a UNIX socket or a plain-HTTP TCP address. */
export type DockerEndpoint = { kind: 'unix'; socketPath: string } | { kind: 'tcp'; host: string; port: number };

/**
 * Parses a Docker endpoint: `unix:///path`, a plain absolute `/path`, or `tcp://host:port`
 * (`http://` is accepted as a synonym; the port defaults to 2375). Throws a TypeError naming the bad value.
 */
export function parseDockerHost(value: string): DockerEndpoint {
  if (typeof value !== 'string' || value.trim() === '') {
    throw new TypeError(`docker host must be a non-empty string such as ${DEFAULT_DOCKER_HOST}, got ${JSON.stringify(value)}`);
  }
  const text = value.trim();
  if (text.startsWith('/')) return { kind: 'unix', socketPath: text };
  if (text.startsWith('unix://')) {
    const socketPath = text.slice('unix://'.length);
    if (!socketPath.startsWith('/')) throw new TypeError(`docker host ${JSON.stringify(value)}: a unix:// address needs an absolute path, e.g. ${DEFAULT_DOCKER_HOST}`);
    return { kind: 'unix', socketPath };
  }
  let url: URL;
  try {
    url = new URL(text);
  } catch (cause) {
    throw new TypeError(`docker host ${JSON.stringify(value)} is not a URL; use unix:///path/docker.sock, /path/docker.sock or tcp://host:port`, { cause });
  }
  if (url.protocol !== 'tcp:' && url.protocol !== 'http:') {
    throw new TypeError(`docker host ${JSON.stringify(value)}: scheme ${url.protocol} is not supported (TLS and ssh are not); use unix:///path/docker.sock, /path/docker.sock or tcp://host:port`);
  }
  if (url.hostname === '') throw new TypeError(`docker host ${JSON.stringify(value)} has no host name; use tcp://host:port`);
  if ((url.pathname !== '' && url.pathname !== '/') || url.search !== '' || url.username !== '') {
    throw new TypeError(`docker host ${JSON.stringify(value)}: only tcp://host:port is understood (no path, query or credentials)`);
  }
  const port = url.port === '' ? 2375 : Number(url.port);
  // URL keeps IPv6 literals bracketed; the HTTP agent wants them bare.
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  return { kind: 'tcp', host, port };
}

/** Text form of an endpoint for log lines. */
export function formatDockerEndpoint(endpoint: DockerEndpoint): string {
  return endpoint.kind === 'unix' ? `unix://${endpoint.socketPath}` : `tcp://${endpoint.host.includes(':') ? `[${endpoint.host}]` : endpoint.host}:${endpoint.port}`;
}

/**
 * The process-wide `--docker-host <url>` option (env `SCOPE_DOCKER_HOST`, then Docker's own `DOCKER_HOST`):
 * one flag for every Docker-using plugin of the process, since they share one inventory per endpoint.
 * @default 'unix:///var/run/docker.sock'
 */
export const dockerHostOption = {
  type: 'string',
  global: true,
  description: 'Docker API endpoint: unix:///path/docker.sock, /path/docker.sock or tcp://host:port',
  placeholder: 'url',
  env: ['DOCKER_HOST'],
  default: DEFAULT_DOCKER_HOST,
  validate: (value: string) => void parseDockerHost(value),
} as const satisfies StringOption;

/**
 * The process-wide `--docker-resync-ms <ms>` option (env `SCOPE_DOCKER_RESYNC_MS`): how often the shared inventory
 * lists and inspects every container behind the event stream. @default 30000
 */
export const dockerResyncOption = {
  type: 'number',
  global: true,
  description: 'full container list + inspect this often, as a safety net behind the Docker event stream',
  integer: true,
  min: 1000,
  unit: 'ms',
  default: 30_000,
} as const satisfies NumberOption;

/** Both Docker options, to spread into a plugin's `options`: `{ ...dockerOptions, ... }`. */
export const dockerOptions = { dockerHost: dockerHostOption, dockerResyncMs: dockerResyncOption } as const;

/**
 * A dockerode client for `options.dockerHost` (default {@link DEFAULT_DOCKER_HOST}). Every connection
 * setting is given explicitly so `DOCKER_HOST`/`DOCKER_CLIENT_TIMEOUT` in the environment cannot override it
 * (a client-wide timeout would also cut the idle event stream). Throws a TypeError on a bad URL.
 */
export function createDockerClient(options: { dockerHost?: string } = {}): Docker {
  const endpoint = parseDockerHost(options.dockerHost ?? DEFAULT_DOCKER_HOST);
  const common = { timeout: undefined, protocol: 'http' as const };
  return endpoint.kind === 'unix'
    ? new Docker({ ...common, socketPath: endpoint.socketPath, host: undefined, port: undefined })
    : new Docker({ ...common, host: endpoint.host, port: endpoint.port, socketPath: undefined });
}
