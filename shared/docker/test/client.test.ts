import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { DockerApiError, createDockerClient, describeDockerFailure, type DockerClient } from '../src/index.js';

/** What a real HTTP server standing in for dockerd saw: method, path and body of each request. */
type Seen = { method: string; url: string; body: string };

function startServer(handle: (req: IncomingMessage, res: ServerResponse, body: string) => void) {
  const seen: Seen[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      seen.push({ method: req.method ?? '', url: req.url ?? '', body });
      handle(req, res, body);
    });
  });
  return { server, seen };
}

function json(res: ServerResponse, status: number, value: unknown) {
  const text = JSON.stringify(value);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

const ID = 'a'.repeat(64);

describe('createDockerClient over a real UNIX socket', () => {
  let dir: string;
  let socketPath: string;
  let server: Server;
  let seen: Seen[];
  let client: DockerClient;
  const events: ServerResponse[] = [];

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'docker-client-'));
    socketPath = join(dir, 'docker.sock');
    ({ server, seen } = startServer((req, res, body) => {
      const url = new URL(req.url ?? '/', 'http://x');
      if (url.pathname === '/containers/json') return json(res, 200, [{ Id: ID, all: url.searchParams.get('all') }]);
      if (url.pathname === `/containers/${ID}/json`) return json(res, 200, { Id: ID, Name: '/web', State: { Status: 'running', Running: true, Pid: 42 } });
      if (url.pathname === '/containers/create') return json(res, 201, { Id: ID, echoed: JSON.parse(body) as unknown });
      if (url.pathname === '/events') {
        if (url.searchParams.get('filters') === null) return json(res, 400, { message: 'filters required by this test server' });
        res.writeHead(200, { 'Content-Type': 'application/json' });
        res.write(`${JSON.stringify({ Type: 'container', Action: 'start', id: ID })}\n`);
        events.push(res);
        return undefined;
      }
      if (url.pathname.startsWith('/containers/')) return json(res, 404, { message: `No such container: ${url.pathname.split('/')[2]}` });
      res.writeHead(500, { 'Content-Type': 'text/plain' });
      res.end('plain failure\n');
    }));
    server.listen(socketPath);
    await once(server, 'listening');
  });

  afterEach(() => client?.close());

  afterAll(async () => {
    for (const res of events) res.destroy();
    server.closeAllConnections();
    server.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('lists, inspects and posts at the endpoint it is given, whatever DOCKER_HOST says', async () => {
    const saved = process.env['DOCKER_HOST'];
    process.env['DOCKER_HOST'] = 'tcp://10.9.9.9:2375';
    try {
      client = createDockerClient({ dockerHost: `unix://${socketPath}` });
      expect(client.endpoint).toEqual({ kind: 'unix', socketPath });
      expect(await client.listContainers({ all: true })).toEqual([{ Id: ID, all: '1' }]);
      expect(await client.inspectContainer(ID)).toEqual({ Id: ID, Name: '/web', State: { Status: 'running', Running: true, Pid: 42 } });
      expect(await client.request('POST', '/containers/create?name=x', { body: { Image: 'busybox' } })).toEqual({ Id: ID, echoed: { Image: 'busybox' } });
    } finally {
      if (saved === undefined) delete process.env['DOCKER_HOST'];
      else process.env['DOCKER_HOST'] = saved;
    }
    expect(seen.slice(-3).map(({ method, url, body }) => ({ method, url, body }))).toEqual([
      { method: 'GET', url: '/containers/json?all=1', body: '' },
      { method: 'GET', url: `/containers/${ID}/json`, body: '' },
      { method: 'POST', url: '/containers/create?name=x', body: '{"Image":"busybox"}' },
    ]);
  });

  it('turns an HTTP error into a DockerApiError with the status and Docker\'s message', async () => {
    client = createDockerClient({ dockerHost: socketPath });
    const gone = await client.inspectContainer('b'.repeat(64)).catch((error: unknown) => error);
    expect(gone).toBeInstanceOf(DockerApiError);
    expect({ status: (gone as DockerApiError).statusCode, message: (gone as Error).message }).toEqual({ status: 404, message: `(HTTP code 404) No such container: ${'b'.repeat(64)}` });
    const plain = await client.request('GET', '/info').catch((error: unknown) => error);
    expect({ status: (plain as DockerApiError).statusCode, message: (plain as Error).message }).toEqual({ status: 500, message: '(HTTP code 500) plain failure' });
    expect(describeDockerFailure(plain, 'unix:///x').code).toBe('http-500');
  });

  it('streams events with the filters encoded, and ends the stream when the signal aborts', async () => {
    client = createDockerClient({ dockerHost: `unix://${socketPath}` });
    const controller = new AbortController();
    const stream = await client.getEvents({ filters: { type: ['container'] }, signal: controller.signal });
    expect(seen.at(-1)?.url).toBe(`/events?filters=${encodeURIComponent('{"type":["container"]}')}`);
    stream.setEncoding('utf8');
    const [first] = (await once(stream, 'data')) as [string];
    expect(JSON.parse(first)).toEqual({ Type: 'container', Action: 'start', id: ID });
    // Aborting ends the response with an 'aborted' error, then 'close' (once() would reject on the error).
    const closed = new Promise((resolve) => stream.on('close', resolve));
    stream.on('error', () => undefined);
    controller.abort();
    await closed;
    const refused = await client.getEvents({}).catch((error: unknown) => error);
    expect({ status: (refused as DockerApiError).statusCode, message: (refused as Error).message }).toEqual({ status: 400, message: '(HTTP code 400) filters required by this test server' });
  });

  it('fails with the connect error\'s code when nothing listens, and with ABORT_ERR when aborted', async () => {
    client = createDockerClient({ dockerHost: join(dir, 'missing.sock') });
    const missing = await client.listContainers().catch((error: unknown) => error);
    expect(describeDockerFailure(missing, 'unix:///missing.sock').code).toBe('socket-missing');
    const aborted = await createDockerClient({ dockerHost: socketPath }).listContainers({ signal: AbortSignal.abort() }).catch((error: unknown) => error);
    expect(describeDockerFailure(aborted, 'e').code).toBe('timeout');
  });
});

describe('createDockerClient over TCP', () => {
  it('talks plain HTTP to tcp://host:port', async () => {
    const { server, seen } = startServer((_req, res) => json(res, 200, []));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const client = createDockerClient({ dockerHost: `tcp://127.0.0.1:${(server.address() as AddressInfo).port}` });
    try {
      expect(await client.listContainers()).toEqual([]);
      expect(seen.map((s) => s.url)).toEqual(['/containers/json']);
    } finally {
      client.close();
      server.closeAllConnections();
      server.close();
    }
  });
});
