import { lstat, mkdir, chmod, unlink } from 'node:fs/promises';
import { lstatSync, unlinkSync, rmdirSync } from 'node:fs';
import { connect } from 'node:net';
import { dirname } from 'node:path';
import { ScopePluginError } from '../errors.js';

/** Options of {@link prepareSocketPath}. */
export interface SocketFileOptions {
  /** Mode of the `<root>/<id>` directory. @default 0o700 */
  dirMode?: number;
}

/** Says whether a process accepts connections on the UNIX socket at `path` (a connect that hangs counts as live). */
export function probeSocket(path: string, timeoutMs: number): Promise<'live' | 'dead'> {
  return new Promise((resolve) => {
    const socket = connect(path);
    const done = (state: 'live' | 'dead') => {
      socket.destroy();
      resolve(state);
    };
    socket.setTimeout(timeoutMs, () => done('live'));
    socket.once('connect', () => done('live'));
    socket.once('error', () => done('dead'));
  });
}

/**
 * Makes `socketPath` ready to listen on: creates its directory (and the plugins root) if missing,
 * removes a stale socket whose owner is gone, and refuses when a live process already serves it.
 */
export async function prepareSocketPath(socketPath: string, options: SocketFileOptions = {}): Promise<void> {
  const dir = dirname(socketPath);
  try {
    // The root is shared with the probe and other plugins; only our own directory is made private.
    await mkdir(dirname(dir), { recursive: true, mode: 0o755 });
    await mkdir(dir, { recursive: true, mode: options.dirMode ?? 0o700 });
    await chmod(dir, options.dirMode ?? 0o700);
  } catch (cause) {
    throw new ScopePluginError('SOCKET_PATH', `cannot create plugin directory ${dir}`, { cause });
  }
  let stats;
  try {
    stats = await lstat(socketPath);
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw new ScopePluginError('SOCKET_PATH', `cannot inspect ${socketPath}`, { cause });
  }
  if (!stats.isSocket()) {
    throw new ScopePluginError('SOCKET_PATH', `${socketPath} exists and is not a socket; refusing to replace it`);
  }
  if ((await probeSocket(socketPath, 1000)) === 'live') {
    throw new ScopePluginError('SOCKET_IN_USE', `another live process already serves ${socketPath}; stop it first (two plugins with one id would confuse Scope)`);
  }
  await unlink(socketPath).catch((cause: NodeJS.ErrnoException) => {
    if (cause.code !== 'ENOENT') throw new ScopePluginError('SOCKET_PATH', `cannot remove stale socket ${socketPath}`, { cause });
  });
}

/** Identity of the socket file we created, so cleanup never removes a successor's socket. */
export interface SocketIdentity {
  path: string;
  ino: number;
  dev: number;
}

/** Reads the identity of a freshly bound socket. */
export function readSocketIdentity(path: string): SocketIdentity {
  const stats = lstatSync(path);
  return { path, ino: stats.ino, dev: stats.dev };
}

/** Removes our socket (only if it is still ours) and its directory when empty. Synchronous so it also works in `exit` handlers. */
export function removeSocketFile(identity: SocketIdentity): void {
  try {
    const stats = lstatSync(identity.path);
    if (stats.ino === identity.ino && stats.dev === identity.dev) unlinkSync(identity.path);
  } catch {
    // Already gone: nothing to clean.
  }
  try {
    rmdirSync(dirname(identity.path));
  } catch {
    // Not empty or already gone: the directory is left as it is.
  }
}
