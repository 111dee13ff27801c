import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';

/** Finds plugin sockets under `root` the way the probe does: recursively, following symlinks, sockets only, sorted. */
export async function findPluginSockets(root: string): Promise<string[]> {
  const found: string[] = [];
  const visit = async (dir: string, depth: number) => {
    if (depth > 16) return;
    let entries;
    try {
      entries = await readdir(dir);
    } catch {
      // Unreadable directories are skipped, as the probe skips them.
      return;
    }
    for (const name of entries.sort()) {
      const path = join(dir, name);
      const info = await stat(path).catch(() => undefined);
      if (!info) continue;
      if (info.isDirectory()) await visit(path, depth + 1);
      else if (info.isSocket()) found.push(path);
    }
  };
  await visit(root, 0);
  return found.sort();
}
