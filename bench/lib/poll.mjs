// One GET /report as the Scope probe sends it (Host header, 500 ms deadline) over a plugin's UNIX socket.
import { request } from 'node:http';

/** Resolves to the body ('' on any failure, timeout included); never rejects. */
export function pollReport(socketPath, agent) {
  return new Promise((resolve) => {
    const req = request({ socketPath, path: '/report', agent, headers: { Host: 'plugin' }, timeout: 500 }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
      res.on('error', () => resolve(''));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(''));
    req.end();
  });
}
