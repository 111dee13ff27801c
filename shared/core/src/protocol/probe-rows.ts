import type { TopologyKey } from './topologies.js';

/**
 * Priorities of the rows the Scope probe v1.13.x itself shows, per topology and template kind, read
 * from weaveworks/scope (probe/host/reporter.go, probe/process/reporter.go, probe/docker/reporter.go,
 * probe/overlay/weave.go; see shared/core/PROTOCOL-NOTES.md). Two templates with the same priority
 * swap places between nodes and refreshes, so a plugin picks priorities none of these use: the probe
 * uses whole numbers only, so a plugin's priorities have a fraction (0.05, 3.5, 10.5, …).
 */
export const PROBE_PRIORITIES: Partial<Record<TopologyKey, { metadata: Record<string, number>; metrics: Record<string, number> }>> = {
  Host: {
    metadata: { 'Kernel version': 1, Uptime: 2, Hostname: 11, OS: 12, 'Local networks': 13, 'Scope version': 14 },
    metrics: { CPU: 1, Memory: 2, 'Load (1m)': 11 },
  },
  Process: {
    metadata: { PID: 1, Command: 2, 'Parent PID': 3, '# Threads': 4 },
    metrics: { CPU: 1, Memory: 2, 'Open files': 3 },
  },
  Container: {
    metadata: {
      'Image tag': 1, 'Image name': 2, Command: 3, State: 4, Uptime: 5, 'Restart #': 6, Networks: 7, IPs: 8, Ports: 9, Created: 10, ID: 11,
      'Weave MAC': 17, 'Weave DNS Name': 18,
    },
    metrics: { CPU: 1, Memory: 2 },
  },
  ContainerImage: { metadata: { '# Containers': 2 }, metrics: {} },
};

/** A priority shared by two rows of one topology and kind (each named `<owner>: <label>`). */
export interface PriorityCollision {
  topology: TopologyKey;
  kind: 'metadata' | 'metrics';
  priority: number;
  rows: string[];
}

/** Rows of a topology as `[owner: label, priority]`, for {@link findPriorityCollisions}. */
export type PriorityRows = Partial<Record<TopologyKey, { metadata?: Array<[string, number]>; metrics?: Array<[string, number]> }>>;

/** Every priority used by more than one row (the probe's own rows included), per topology and kind. Pure. */
export function findPriorityCollisions(rows: PriorityRows): PriorityCollision[] {
  const collisions: PriorityCollision[] = [];
  const topologies = new Set([...Object.keys(rows), ...Object.keys(PROBE_PRIORITIES)] as TopologyKey[]);
  for (const topology of [...topologies].sort()) {
    for (const kind of ['metadata', 'metrics'] as const) {
      const byPriority = new Map<number, string[]>();
      const add = (name: string, priority: number) => byPriority.set(priority, [...(byPriority.get(priority) ?? []), name]);
      for (const [label, priority] of Object.entries(PROBE_PRIORITIES[topology]?.[kind] ?? {})) if (!byPriority.has(priority)) add(`probe: ${label}`, priority);
      for (const [name, priority] of rows[topology]?.[kind] ?? []) add(name, priority);
      for (const [priority, names] of byPriority) if (names.length > 1) collisions.push({ topology, kind, priority, rows: names });
    }
  }
  return collisions;
}
