import { readContainerIdOfPid } from '@scope-plugins/core';

/** Maps pids to the container they run in, from `/proc/<pid>/cgroup`; cached for the pid's life. */
export interface ContainerLookup {
  containerOf(pid: number): Promise<string | undefined>;
  forget(pid: number): void;
}

/** Creates a {@link ContainerLookup} reading under `procRoot`. */
export function createContainerLookup(procRoot: string): ContainerLookup {
  const cache = new Map<number, string | null>();
  return {
    async containerOf(pid) {
      let id = cache.get(pid);
      if (id === undefined) {
        // A process never changes container, so one read per pid is enough.
        id = (await readContainerIdOfPid(procRoot, pid)) ?? null;
        cache.set(pid, id);
      }
      return id ?? undefined;
    },
    forget(pid) {
      cache.delete(pid);
    },
  };
}
