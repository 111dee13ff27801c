import { Agent, request as httpRequest, type IncomingMessage } from 'node:http';
import type { Readable } from 'node:stream';
import type Docker from 'dockerode';
import { DEFAULT_DOCKER_HOST, parseDockerHost, type DockerEndpoint } from './docker-host.js';

/** Docker answered a request with an HTTP error status; `message` carries Docker's own explanation. */
export class DockerApiError extends Error {
  /** The HTTP status Docker answered with (404 for a container that no longer exists, ...). */
  readonly statusCode: number;
  /** Docker's JSON error answer, when it sent one. */
  readonly json: unknown;

  constructor(statusCode: number, json: unknown, text: string) {
    const said = (json as { message?: unknown } | null)?.message;
    super(`(HTTP code ${statusCode}) ${typeof said === 'string' ? said : text.trim() || 'no message'}`);
    this.name = 'DockerApiError';
    this.statusCode = statusCode;
    this.json = json;
  }
}

/** Options of one {@link DockerClient} call. */
export interface DockerCallOptions {
  /** Aborts the request (and, for the event stream, the stream). */
  signal?: AbortSignal;
}

/** The Docker Engine API calls the scope-plugins make, over plain HTTP on a UNIX socket or TCP. */
export interface DockerClient {
  readonly endpoint: DockerEndpoint;
  /** `GET /containers/json`: every container with `all`, else the running ones. */
  listContainers(options?: DockerCallOptions & { all?: boolean }): Promise<Docker.ContainerInfo[]>;
  /** `GET /containers/<id>/json`: a {@link DockerApiError} with status 404 once the container is gone. */
  inspectContainer(id: string, options?: DockerCallOptions): Promise<Docker.ContainerInspectInfo>;
  /** `GET /events`: resolves with the response stream (newline-delimited JSON) once Docker accepted it. */
  getEvents(options?: DockerCallOptions & { filters?: Record<string, string[]> }): Promise<Readable>;
  /** Any other call with a JSON body and a JSON (or empty) answer, for tests and benchmarks. */
  request(method: string, path: string, options?: DockerCallOptions & { body?: unknown }): Promise<unknown>;
  /** Closes the idle keep-alive connections. */
  close(): void;
}

function readBody(res: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    res.on('data', (chunk: Buffer) => chunks.push(chunk));
    res.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    res.on('error', reject);
    // A connection cut mid-answer ends in 'close' without 'end' (and without 'error' on some Node versions).
    res.on('close', () => {
      if (!res.complete) reject(Object.assign(new Error('Docker closed the connection mid-answer'), { code: 'ECONNRESET' }));
    });
  });
}

function parseJson(text: string): unknown {
  if (text.trim() === '') return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    // Not JSON (a proxy's HTML error page, say): the caller gets the text in the error message instead.
    return undefined;
  }
}

/**
 * A Docker Engine API client for `options.dockerHost` (default {@link DEFAULT_DOCKER_HOST}), on node:http.
 * Hand-made instead of dockerode, whose module graph (docker-modem, ssh2 with its WebAssembly, @grpc/grpc-js
 * and protobufjs for BuildKit sessions, tar-fs) cost the suite about 20 MiB of RSS for three GET calls.
 * The endpoint is always the one given: `DOCKER_HOST`/`DOCKER_CLIENT_TIMEOUT` in the environment are not read
 * here (a client-wide timeout would also cut the idle event stream). Throws a TypeError on a bad URL.
 */
export function createDockerClient(options: { dockerHost?: string } = {}): DockerClient {
  const endpoint = parseDockerHost(options.dockerHost ?? DEFAULT_DOCKER_HOST);
  // Keep-alive: a full resync makes one list and one inspect per container; idle sockets are unref'd by the agent.
  const agent = new Agent({ keepAlive: true, maxSockets: 16 });
  const target = endpoint.kind === 'unix' ? { socketPath: endpoint.socketPath } : { host: endpoint.host, port: endpoint.port };

  const send = (method: string, path: string, signal: AbortSignal | undefined, body?: unknown): Promise<IncomingMessage> =>
    new Promise((resolve, reject) => {
      const payload = body === undefined ? undefined : JSON.stringify(body);
      const headers = payload === undefined ? {} : { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(payload) };
      const req = httpRequest({ ...target, agent, method, path, headers, ...(signal ? { signal } : {}) }, resolve);
      req.on('error', reject);
      req.end(payload);
    });

  const call = async (method: string, path: string, signal: AbortSignal | undefined, body?: unknown): Promise<unknown> => {
    const res = await send(method, path, signal, body);
    const text = await readBody(res);
    const json = parseJson(text);
    const status = res.statusCode ?? 0;
    if (status < 200 || status >= 300) throw new DockerApiError(status, json, text);
    return json;
  };

  return {
    endpoint,
    listContainers: async (opts = {}) => (await call('GET', `/containers/json${opts.all ? '?all=1' : ''}`, opts.signal)) as Docker.ContainerInfo[],
    inspectContainer: async (id, opts = {}) => (await call('GET', `/containers/${encodeURIComponent(id)}/json`, opts.signal)) as Docker.ContainerInspectInfo,
    async getEvents(opts = {}) {
      const query = opts.filters ? `?filters=${encodeURIComponent(JSON.stringify(opts.filters))}` : '';
      const res = await send('GET', `/events${query}`, opts.signal);
      if (res.statusCode === 200) return res;
      const text = await readBody(res);
      throw new DockerApiError(res.statusCode ?? 0, parseJson(text), text);
    },
    request: (method, path, opts = {}) => call(method, path, opts.signal, opts.body),
    close: () => agent.destroy(),
  };
}
