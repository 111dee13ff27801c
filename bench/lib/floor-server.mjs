// The floor of the resource benchmark: a bare Node HTTP server on a UNIX socket answering GET /report with a
// fixed plugin report, as small as a plugin can be. Whatever a plugin costs above this is its own work.
// Run: node bench/lib/floor-server.mjs <socket path>
import { createServer } from 'node:http';
import { mkdirSync, rmSync } from 'node:fs';
import { dirname } from 'node:path';

const socketPath = process.argv[2];
const body = JSON.stringify({ Plugins: [{ id: 'floor', label: 'Floor', description: 'bench floor', interfaces: ['reporter'], api_version: '1' }] });
mkdirSync(dirname(socketPath), { recursive: true });
rmSync(socketPath, { force: true });
createServer((req, res) => {
  res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}).listen(socketPath);
process.on('SIGTERM', () => process.exit(0));
