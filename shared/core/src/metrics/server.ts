import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describeError } from '../errors.js';
import type { Logger } from '../log.js';
import type { Exposition } from './exposition.js';
import type { ListenAddress } from './listen-address.js';
import { negotiateFormat } from './negotiate.js';

/** The path the page is served on. */
export const METRICS_PATH = '/metrics';

/** Creates (without listening) the HTTP server answering `GET /metrics`; anything else is 404/405. */
export function createMetricsServer(exposition: Exposition, log: Logger): Server {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path !== METRICS_PATH) {
      res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end(`not found: the metrics are at ${METRICS_PATH}\n`);
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain; charset=utf-8' }).end('method not allowed\n');
      return;
    }
    exposition.render(negotiateFormat(req.headers.accept)).then(
      ({ contentType, body }) => {
        res.writeHead(200, { 'content-type': contentType, 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store' });
        res.end(req.method === 'HEAD' ? undefined : body);
      },
      (error: unknown) => {
        log.transition('metrics-render', 'failed', 'error', 'cannot render the metrics page', { error: describeError(error) });
        res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' }).end('cannot render the metrics page\n');
      },
    );
  });
  // A scraper that stalls must not hold sockets forever; Prometheus' own timeout is 10 s by default.
  server.requestTimeout = 15_000;
  server.headersTimeout = 10_000;
  server.keepAliveTimeout = 65_000;
  return server;
}

/** Listens on `address`; resolves with the bound address (the real port when 0 was asked). */
export async function listenMetricsServer(server: Server, address: ListenAddress): Promise<AddressInfo> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(address.port, address.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return server.address() as AddressInfo;
}
