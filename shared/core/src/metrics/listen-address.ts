/** Where the metrics endpoint listens. */
export interface ListenAddress {
  host: string;
  port: number;
  /** True for 127.0.0.0/8, ::1 and localhost: only this machine can scrape. */
  loopback: boolean;
}

function parsePort(text: string, original: string): number {
  const port = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(port) || port > 65_535) {
    throw new TypeError(`--metrics-listen must be PORT, HOST:PORT or [IPV6]:PORT with a port from 0 to 65535, got ${JSON.stringify(original)}`);
  }
  return port;
}

/** True for an address only this machine can reach. */
export function isLoopbackHost(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

/**
 * Parses `--metrics-listen`: a bare `PORT` binds 127.0.0.1 only (safe default); `HOST:PORT`, `[IPV6]:PORT` or
 * `:PORT` (every interface) are the user's explicit choice. Port 0 picks a free port. Throws a TypeError showing the bad text.
 */
export function parseListenAddress(text: string): ListenAddress {
  const value = text.trim();
  if (/^\d+$/.test(value)) return { host: '127.0.0.1', port: parsePort(value, text), loopback: true };
  const bracketed = /^\[([0-9a-fA-F:.]+)\]:(\d*)$/.exec(value);
  if (bracketed) {
    const host = bracketed[1]!;
    return { host, port: parsePort(bracketed[2]!, text), loopback: isLoopbackHost(host) };
  }
  const colon = value.lastIndexOf(':');
  if (colon < 0 || value.indexOf(':') !== colon) {
    throw new TypeError(`--metrics-listen must be PORT, HOST:PORT or [IPV6]:PORT (brackets around an IPv6 address), got ${JSON.stringify(text)}`);
  }
  const host = value.slice(0, colon);
  const port = parsePort(value.slice(colon + 1), text);
  if (host === '') return { host: '0.0.0.0', port, loopback: false };
  if (!/^[a-zA-Z0-9.-]+$/.test(host)) throw new TypeError(`--metrics-listen: bad host ${JSON.stringify(host)} in ${JSON.stringify(text)}`);
  return { host, port, loopback: isLoopbackHost(host) };
}
