// Test HTTP server (Node `http`, which answers with writev): the status code comes from `?s=<code>`.
// Listens on 127.0.0.1 (port from argv[2], 0 = any) and prints `listening <port>` once ready.
// With argv[3] and argv[4] (certificate and key files) it serves HTTPS (OpenSSL inside the node binary).
import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';

const handler = (req, res) => {
  const status = Number(new URL(req.url ?? '/', 'http://x').searchParams.get('s') ?? 200);
  req.resume();
  req.on('end', () => {
    res.writeHead(status, { 'content-type': 'text/plain' });
    res.end('ok\n');
  });
};
const server = process.argv[4]
  ? https.createServer({ cert: readFileSync(process.argv[3]), key: readFileSync(process.argv[4]) }, handler)
  : http.createServer(handler);
server.keepAliveTimeout = 30_000;
server.listen(Number(process.argv[2] ?? 0), '127.0.0.1', () => {
  process.stdout.write(`listening ${server.address().port}\n`);
});
