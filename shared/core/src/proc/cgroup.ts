import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

// The container id is the last 64-hex path element, bare (`/docker/<id>`, `/kubepods/…/<id>`) or wrapped
// by a systemd or runtime scope (`docker-<id>.scope`, `cri-containerd-<id>.scope`, `crio-<id>.scope`, `libpod-<id>`).
const CONTAINER_ID_IN_PATH = /(?:^|[/-])([0-9a-f]{64})(?:\.scope)?$/;

/**
 * The container id a process belongs to, from the text of `/proc/<pid>/cgroup` (cgroup v1 or v2), or
 * undefined for a process outside any container. Pure.
 */
export function parseCgroupContainerId(text: string): string | undefined {
  for (const line of text.split('\n')) {
    // hierarchy-id:controllers:path; the path may itself contain ':' (never a container id's part).
    const path = line.split(':').slice(2).join(':').trim();
    const match = CONTAINER_ID_IN_PATH.exec(path);
    if (match) return match[1];
  }
  return undefined;
}

/** Reads which container `pid` runs in (see {@link parseCgroupContainerId}); undefined when none or gone. */
export async function readContainerIdOfPid(procRoot: string, pid: number): Promise<string | undefined> {
  try {
    return parseCgroupContainerId(await readFile(join(procRoot, String(pid), 'cgroup'), 'utf8'));
  } catch {
    // The process exited (ENOENT/ESRCH) or is not ours to read: it is in no container we can show.
    return undefined;
  }
}
