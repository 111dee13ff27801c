/**
 * A plugin's listening socket, kept where the probe looks for it: bound at `<root>/<id>/<id>.sock`,
 * checked at least every `checkIntervalMs` on the process's shared heartbeat (one lstat comparing device and inode
 * with what we bound; see util/heartbeat.ts for why it is not a timer of its own), and
 * re-bound when the socket, its directory or the whole root was removed (a tmpfs cleaned, a hostPath
 * recreated, an operator tidying /var/run). A path taken over by a regular file or by another live
 * process's socket is never touched: that is logged, and re-checked until it goes away.
 */
import { chmod, link, unlink } from 'node:fs/promises';
import { existsSync, lstatSync } from 'node:fs';
import type { Server } from 'node:http';
import { dirname, join } from 'node:path';
import { ScopePluginError, describeError } from '../errors.js';
import type { Logger } from '../log.js';
import { HEARTBEAT_MS, onHeartbeat } from '../util/heartbeat.js';
import { prepareSocketPath, probeSocket, readSocketIdentity, removeSocketFile, type SocketIdentity } from './socket-file.js';

/** Options of {@link servePluginSocket}. */
export interface PluginSocketOptions {
  socketPath: string;
  /** Makes a fresh (not yet listening) server; called again for each re-bind. */
  createServer(): Server;
  log: Logger;
  /** Mode of `<root>/<id>/`. @default 0o700 */
  dirMode?: number;
  /** @default 0o600 */
  socketMode?: number;
  /** Longest time between two checks of the path (they run on the shared heartbeat). @default HEARTBEAT_MS (2000) */
  checkIntervalMs?: number;
}

/** A listening plugin socket that recovers from removal. */
export interface PluginSocket {
  readonly socketPath: string;
  /** Times the socket was re-bound after it (or its directory, or the root) disappeared. */
  readonly rebinds: number;
  /** Checks the path now (also run on the timer). */
  check(): Promise<void>;
  /** Stops watching, closes the servers and removes our socket (only if still ours). Idempotent. */
  stop(): Promise<void>;
}

const exitCleanup = new Set<SocketIdentity>();
let exitHookInstalled = false;

function registerForExitCleanup(identity: SocketIdentity): void {
  exitCleanup.add(identity);
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // Last line of defence: whatever way the process ends, no socket is left behind for the probe.
  process.on('exit', () => {
    for (const entry of exitCleanup) removeSocketFile(entry);
  });
}

/**
 * Listens on `socketPath` without ever giving libuv its name: libuv unlinks a UNIX server's path when the
 * server closes, whatever file is there by then (checked on Node 20: a regular file that replaced our
 * socket is deleted by `server.close()`). So the server binds a private name in the same directory, gets
 * its mode, and is hard-linked to the real path (link(2) fails rather than replace anything that appeared
 * there meanwhile); the private name is removed at once, and its unlink at close finds nothing.
 */
async function listen(server: Server, socketPath: string, socketMode: number): Promise<SocketIdentity> {
  const bindPath = join(dirname(socketPath), `.bind-${process.pid}`);
  await unlink(bindPath).catch(() => undefined);
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(bindPath, () => {
        server.off('error', reject);
        resolve();
      });
    });
    await chmod(bindPath, socketMode);
    await link(bindPath, socketPath);
  } catch (cause) {
    server.close();
    const code = (cause as NodeJS.ErrnoException).code;
    throw new ScopePluginError(code === 'EEXIST' ? 'SOCKET_IN_USE' : 'SOCKET_PATH', code === 'EEXIST' ? `${socketPath} appeared while binding; not replacing it` : `cannot listen on ${socketPath}`, { cause });
  } finally {
    await unlink(bindPath).catch(() => undefined);
  }
  return readSocketIdentity(socketPath);
}

/** What was missing when the socket was found gone, for the log line. */
function describeMissing(socketPath: string): string {
  const dir = dirname(socketPath);
  if (!existsSync(dirname(dir))) return 'the plugins root';
  if (!existsSync(dir)) return 'the plugin directory';
  return 'the socket';
}

/** Prepares the path (refusing a live owner or a non-socket), listens, and keeps the socket in place. */
export async function servePluginSocket(options: PluginSocketOptions): Promise<PluginSocket> {
  const { socketPath, log } = options;
  const socketMode = options.socketMode ?? 0o600;
  const prepare = () => prepareSocketPath(socketPath, options.dirMode === undefined ? {} : { dirMode: options.dirMode });
  const servers = new Set<Server>();
  const makeServer = () => {
    const server = options.createServer();
    // Without a listener after listen(), an accept error (EMFILE when file descriptors run out) would be
    // an uncaught exception and end the process. The server keeps listening; say so once per cause.
    server.on('error', (error: NodeJS.ErrnoException) => {
      log.transition('accept', `error:${error.code ?? error.message}`, 'error', 'the plugin socket could not accept a connection (out of file descriptors?); still serving', { error: describeError(error), code: error.code });
    });
    servers.add(server);
    return server;
  };

  await prepare();
  const first = makeServer();
  let identity: SocketIdentity;
  try {
    identity = await listen(first, socketPath, socketMode);
  } catch (error) {
    servers.delete(first);
    throw error;
  }
  registerForExitCleanup(identity);
  let current = first;
  let rebinds = 0;
  let stopped = false;
  let checking: Promise<void> | undefined;
  /** Inode of a foreign file or socket already reported, so it is neither re-probed nor re-logged each check. */
  let foreign: string | undefined;

  const rebind = async (why: string) => {
    await prepare();
    const server = makeServer();
    const next = await listen(server, socketPath, socketMode).catch((error: unknown) => {
      servers.delete(server);
      throw error;
    });
    exitCleanup.delete(identity);
    identity = next;
    registerForExitCleanup(identity);
    const previous = current;
    current = server;
    // The old server listens on a path nobody can reach any more; its open connections may finish.
    previous.close();
    servers.delete(previous);
    rebinds++;
    foreign = undefined;
    log.warn(`${why}; recreated the socket`, { socket: socketPath, rebinds });
  };

  const checkOnce = async () => {
    let stats;
    try {
      stats = lstatSync(socketPath);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT' && (error as NodeJS.ErrnoException).code !== 'ENOTDIR') {
        log.transition('socket-watch', `error:${(error as NodeJS.ErrnoException).code}`, 'warn', `cannot check ${socketPath}`, { error: describeError(error) });
        return;
      }
      const missing = describeMissing(socketPath);
      try {
        await rebind(`${missing} was removed`);
        log.transition('socket-watch', 'ok', 'debug', 'socket in place');
      } catch (rebindError) {
        log.transition('socket-watch', `rebind-failed:${describeError(rebindError)}`, 'error', `${missing} was removed and the socket cannot be recreated; retrying`, { socket: socketPath, error: describeError(rebindError) });
      }
      return;
    }
    if (stats.ino === identity.ino && stats.dev === identity.dev) {
      foreign = undefined;
      log.transition('socket-watch', 'ok', 'debug', 'socket in place');
      return;
    }
    const key = `${stats.dev}:${stats.ino}`;
    if (foreign === key) return;
    if (!stats.isSocket()) {
      foreign = key;
      log.transition('socket-watch', `not-a-socket:${key}`, 'error', `${socketPath} was replaced by something that is not a socket; not touching it: Scope cannot reach this plugin until it is removed`, { socket: socketPath });
      return;
    }
    if ((await probeSocket(socketPath, 1000)) === 'live') {
      foreign = key;
      log.transition('socket-watch', `foreign:${key}`, 'error', `another live process now serves ${socketPath}; not replacing its socket: Scope talks to that process, not to this one, until it goes away`, { socket: socketPath });
      return;
    }
    // A dead socket someone else left (its owner is gone): the same rule as at start-up, take the path over.
    try {
      await rebind(`a dead socket of another process replaced ours at ${socketPath}`);
    } catch (rebindError) {
      log.transition('socket-watch', `rebind-failed:${describeError(rebindError)}`, 'error', `cannot take ${socketPath} back; retrying`, { error: describeError(rebindError) });
    }
  };

  const check = () => {
    if (stopped) return Promise.resolve();
    checking ??= checkOnce().finally(() => (checking = undefined));
    return checking;
  };
  // The heartbeat is unref'd: the watch alone does not keep a process alive.
  const unwatch = onHeartbeat(() => void check(), options.checkIntervalMs ?? HEARTBEAT_MS);

  let stopping: Promise<void> | undefined;
  return {
    socketPath,
    get rebinds() {
      return rebinds;
    },
    check,
    stop() {
      stopping ??= (async () => {
        stopped = true;
        unwatch();
        await checking;
        // Stop accepting first, so the probe sees "connection refused" for no longer than needed.
        removeSocketFile(identity);
        exitCleanup.delete(identity);
        await Promise.all(
          [...servers].map(
            (server) =>
              new Promise<void>((resolve) => {
                server.closeAllConnections();
                server.close(() => resolve());
              }),
          ),
        );
        servers.clear();
      })();
      return stopping;
    },
  };
}
