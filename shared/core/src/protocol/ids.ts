import { hostname } from 'node:os';
import { basename, extname, join } from 'node:path';

/** Scope's plugin id rule (probe/plugins/registry.go). */
export const PLUGIN_ID_PATTERN = /^[A-Za-z0-9]+(-[A-Za-z0-9]+)*$/;

/** Control ids: no `;` (the active_controls delimiter), kept to a safe alphabet. */
export const CONTROL_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_-]*$/;

/** Default plugins root the Scope probe scans. */
export const DEFAULT_PLUGINS_ROOT = '/var/run/scope/plugins';

/** True when `id` is accepted by Scope as a plugin id. */
export function isValidPluginId(id: unknown): id is string {
  return typeof id === 'string' && PLUGIN_ID_PATTERN.test(id);
}

/** Throws a TypeError showing the bad value unless `id` is a valid plugin id. */
export function validatePluginId(id: unknown): string {
  if (!isValidPluginId(id)) {
    throw new TypeError(`plugin id must match ${PLUGIN_ID_PATTERN} (Scope's rule), got ${JSON.stringify(id)}`);
  }
  return id;
}

/** The host id exactly as Scope derives it: `$SCOPE_HOSTNAME` if non-empty, else the kernel hostname. */
export function readHostId(env: NodeJS.ProcessEnv = process.env): string {
  const fromEnv = env['SCOPE_HOSTNAME'];
  return fromEnv !== undefined && fromEnv !== '' ? fromEnv : hostname();
}

/** Host node id: `<hostID>;<host>`. */
export function hostNodeId(hostId: string): string {
  return `${hostId};<host>`;
}

/** Container node id from a full 64-hex container id: `<id>;<container>`. */
export function containerNodeId(containerId: string): string {
  if (!/^[0-9a-f]{64}$/.test(containerId)) {
    throw new TypeError(`container node ids need the full 64-hex container id, got ${JSON.stringify(containerId)}`);
  }
  return `${containerId};<container>`;
}

/** Container image node id: `<image id without sha256:>;<container_image>`. */
export function containerImageNodeId(imageId: string): string {
  return `${imageId.replace(/^sha256:/, '')};<container_image>`;
}

/** Process node id: `<hostID>;<pid>`. */
export function processNodeId(hostId: string, pid: number): string {
  if (!Number.isSafeInteger(pid) || pid <= 0) throw new TypeError(`pid must be a positive integer, got ${pid}`);
  return `${hostId};${pid}`;
}

/** Where a plugin's socket lives: `<root>/<id>/<id>.sock`. */
export function pluginSocketPath(root: string, id: string): string {
  return join(root, id, `${id}.sock`);
}

/** The plugin id Scope derives from a socket path: basename minus its last extension. */
export function pluginIdFromSocketPath(socketPath: string): string {
  const base = basename(socketPath);
  return base.slice(0, base.length - extname(base).length);
}
