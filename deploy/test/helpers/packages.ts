import { readFileSync, readdirSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from './run.js';

/** A publishable workspace package. */
export interface WorkspacePackage {
  dir: string;
  name: string;
  version: string;
  bins: Record<string, string>;
  manifest: Record<string, unknown>;
}

/** Every non-private package under shared/ and plugins/, and the suite: what `npm publish` would ship. */
export function publishablePackages(): WorkspacePackage[] {
  const out: WorkspacePackage[] = [];
  const dirs = [
    ...['shared', 'plugins'].flatMap((group) =>
      readdirSync(join(REPO_ROOT, group), { withFileTypes: true })
        .filter((entry) => entry.isDirectory())
        .map((entry) => join(REPO_ROOT, group, entry.name)),
    ),
    join(REPO_ROOT, 'suite'),
  ];
  for (const dir of dirs) {
    if (!existsSync(join(dir, 'package.json'))) continue;
    const manifest = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as Record<string, unknown>;
    if (manifest['private'] === true) continue;
    const bin = manifest['bin'];
    const bins = typeof bin === 'string' ? { [String(manifest['name']).split('/').pop()!]: bin } : ((bin as Record<string, string> | undefined) ?? {});
    out.push({ dir, name: String(manifest['name']), version: String(manifest['version']), bins, manifest });
  }
  return out.sort((a, b) => a.name.localeCompare(b.name));
}

/** The plugin packages (`@scope-plugins/<id>` under plugins/), by plugin id. */
export function pluginPackages(): Map<string, WorkspacePackage> {
  return new Map(publishablePackages().filter((p) => p.dir.startsWith(join(REPO_ROOT, 'plugins'))).map((p) => [p.name.replace('@scope-plugins/', ''), p]));
}
