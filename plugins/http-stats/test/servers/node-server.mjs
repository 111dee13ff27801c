// Test HTTP server (Node `http`, which answers with writev): the status code comes from `?s=<code>`.
// Listens on 127.0.0.1 (port from argv[2], 0 = any) and prints `listening <port>` once ready.
import http from 'node:http';

const server = http.createServer((req, res) => {
  const status = Number(new URL(req.url ?? '/', 'http://x').searchParams.get('s') ?? 200);
  req.resume();
  req.on('end', () => {
    res.writeHead(status, { 'content-type': 'text/plain' });
    res.end('ok\n');
  });
});
server.keepAliveTimeout = 30_000;
server.listen(Number(process.argv[2] ?? 0), '127.0.0.1', () => {
  process.stdout.write(`listening ${server.address().port}\n`);
});
