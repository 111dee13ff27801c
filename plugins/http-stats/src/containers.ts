import { readContainerIdOfPid } from '@scope-plugins/core';

/** Maps pids to the container they run in, from `/proc/<pid>/cgroup`; cached for the pid's life. */
export interface ContainerLookup {
  /** Answers synchronously once the pid was looked up (cached), so a steady collection awaits nothing. */
  containerOf(pid: number): string | undefined | Promise<string | undefined>;
  forget(pid: number): void;
}

/** Creates a {@link ContainerLookup} reading under `procRoot`. */
export function createContainerLookup(procRoot: string): ContainerLookup {
  const cache = new Map<number, string | null>();
  return {
    containerOf(pid) {
      const known = cache.get(pid);
      if (known !== undefined) return known ?? undefined;
      // A process never changes container, so one read per pid is enough.
      return readContainerIdOfPid(procRoot, pid).then((id) => {
        cache.set(pid, id ?? null);
        return id ?? undefined;
      });
    },
    forget(pid) {
      cache.delete(pid);
    },
  };
}
