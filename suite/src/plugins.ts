import type { ResolvedPluginDefinition } from '@scope-plugins/core';
import { plugin as hostNamespaces } from '@scope-plugins/host-namespaces';
import { plugin as httpStats } from '@scope-plugins/http-stats';
import { plugin as iowait } from '@scope-plugins/iowait';
import { plugin as volumeCount } from '@scope-plugins/volume-count';

/** Every plugin of the suite, by id, in a stable order. */
export const SUITE_PLUGINS: ReadonlyMap<string, ResolvedPluginDefinition> = new Map(
  [hostNamespaces, httpStats, iowait, volumeCount].map((definition) => [definition.id, definition]),
);

/** The definitions for the given ids (all when none); throws a TypeError naming an unknown id. */
export function selectPlugins(ids: string[]): ResolvedPluginDefinition[] {
  if (ids.length === 0) return [...SUITE_PLUGINS.values()];
  const unknown = ids.filter((id) => !SUITE_PLUGINS.has(id));
  if (unknown.length > 0) {
    throw new TypeError(`unknown plugin ${unknown.map((id) => JSON.stringify(id)).join(', ')}; the suite has ${[...SUITE_PLUGINS.keys()].join(', ')}`);
  }
  return [...new Set(ids)].map((id) => SUITE_PLUGINS.get(id)!);
}
