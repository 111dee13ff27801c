import type { TableRows } from '@scope-plugins/core';

/** One mount of a container, as shown in the mounts table. */
export interface ContainerMount {
  /** Docker's mount type: `volume`, `bind`, `tmpfs` (also `npipe`, `cluster` on other platforms). */
  type: string;
  /** Volume name for volumes (named or anonymous), host path for binds, empty for tmpfs. */
  source: string;
  /** Path inside the container; unique per container. */
  destination: string;
  readOnly: boolean;
  /** Volume driver, bind propagation, or tmpfs options. */
  details: string;
}

/** Mounts per type; `total` also counts types other than the three named ones. */
export interface MountCounts {
  total: number;
  volume: number;
  bind: number;
  tmpfs: number;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function text(value: unknown): string {
  return typeof value === 'string' ? value : '';
}

/** `--mount type=tmpfs` options from `HostConfig.Mounts[].TmpfsOptions`, in `--tmpfs` syntax. */
function formatTmpfsOptions(options: unknown): string {
  if (!isObject(options)) return '';
  const parts: string[] = [];
  if (typeof options['SizeBytes'] === 'number' && options['SizeBytes'] > 0) parts.push(`size=${options['SizeBytes']}`);
  if (typeof options['Mode'] === 'number' && options['Mode'] > 0) parts.push(`mode=${options['Mode'].toString(8)}`);
  return parts.join(',');
}

/**
 * Every mount of a container from its `docker inspect` object, sorted by destination: the entries of `Mounts`
 * (volumes, binds, `--mount type=tmpfs`) plus the `--tmpfs` mounts, which Docker lists only in
 * `HostConfig.Tmpfs`. Malformed entries (no destination) are skipped; anything not an object gives `[]`.
 */
export function parseContainerMounts(inspect: unknown): ContainerMount[] {
  if (!isObject(inspect)) return [];
  const hostConfig = isObject(inspect['HostConfig']) ? inspect['HostConfig'] : {};
  const configured = Array.isArray(hostConfig['Mounts']) ? hostConfig['Mounts'].filter(isObject) : [];
  const byDestination = new Map<string, ContainerMount>();
  for (const entry of Array.isArray(inspect['Mounts']) ? inspect['Mounts'] : []) {
    if (!isObject(entry)) continue;
    const destination = text(entry['Destination']);
    if (destination === '') continue;
    const type = text(entry['Type']);
    let details = '';
    if (type === 'volume') details = text(entry['Driver']);
    else if (type === 'bind') details = text(entry['Propagation']);
    else if (type === 'tmpfs') details = formatTmpfsOptions(configured.find((m) => m['Target'] === destination)?.['TmpfsOptions']);
    byDestination.set(destination, {
      type,
      source: type === 'volume' ? text(entry['Name']) : text(entry['Source']),
      destination,
      readOnly: entry['RW'] === false,
      details,
    });
  }
  const tmpfs = isObject(hostConfig['Tmpfs']) ? hostConfig['Tmpfs'] : {};
  for (const [destination, options] of Object.entries(tmpfs)) {
    // Docker refuses duplicate mount points, so this only guards against a future API listing it twice.
    if (destination === '' || byDestination.has(destination)) continue;
    const optionText = text(options);
    byDestination.set(destination, { type: 'tmpfs', source: '', destination, readOnly: optionText.split(',').includes('ro'), details: optionText });
  }
  return [...byDestination.values()].sort((a, b) => (a.destination < b.destination ? -1 : a.destination > b.destination ? 1 : 0));
}

/** Counts mounts by type. */
export function countMounts(mounts: readonly ContainerMount[]): MountCounts {
  const counts: MountCounts = { total: mounts.length, volume: 0, bind: 0, tmpfs: 0 };
  for (const mount of mounts) {
    if (mount.type === 'volume' || mount.type === 'bind' || mount.type === 'tmpfs') counts[mount.type]++;
  }
  return counts;
}

/** Docker names an anonymous volume with 64 random hex digits. */
const ANONYMOUS_VOLUME = /^[0-9a-f]{64}$/;

/** Like Docker's CLI shows ids: the first 12 hex digits. */
export const SHORT_ID_CHARS = 12;

/** The Volume / source cell: the volume name (anonymous ones shortened), the host path, or `tmpfs`. */
export function describeMountSource(mount: ContainerMount): string | undefined {
  if (mount.type === 'volume' && ANONYMOUS_VOLUME.test(mount.source)) return `${mount.source.slice(0, SHORT_ID_CHARS)} (anonymous)`;
  if (mount.type === 'tmpfs') return 'tmpfs';
  return mount.source || undefined;
}

/** The details cell: driver, propagation or tmpfs options; an anonymous volume's full name stays readable here. */
export function describeMountDetails(mount: ContainerMount): string | undefined {
  if (mount.type === 'volume' && ANONYMOUS_VOLUME.test(mount.source)) return `${mount.details || 'local'}, full name ${mount.source}`;
  // An empty cell reads as "unknown": Docker mounts a tmpfs given no options with its defaults (no size limit).
  if (mount.type === 'tmpfs') return mount.details || 'default options, no size limit';
  return mount.details || undefined;
}

/**
 * Table rows for the mounts, keyed by a zero-padded index (`000`, `001`, ...) in destination order: Scope sorts
 * rows by id as strings, and an index can never contain the `___` cell separator the way a path could.
 * Every row has its Destination (first column: it names the mount), Type, source and Read-only cells.
 */
export function buildMountRows(mounts: readonly ContainerMount[]): TableRows {
  const width = Math.max(3, String(mounts.length - 1).length);
  const rows: TableRows = {};
  mounts.forEach((mount, index) => {
    rows[String(index).padStart(width, '0')] = {
      destination: mount.destination,
      type: mount.type || undefined,
      source: describeMountSource(mount),
      read_only: mount.readOnly ? 'yes' : 'no',
      details: describeMountDetails(mount),
    };
  });
  return rows;
}
