import type Docker from 'dockerode';

/** What the inventory knows about one container. */
export interface ContainerRecord {
  /** Full 64-hex container id. */
  id: string;
  /** Name without Docker's leading `/`. */
  name: string;
  /** Docker's `State.Status`: `created`, `running`, `paused`, `restarting`, `exited`, `dead`, ... */
  state: string;
  /** Docker's `State.Running`. */
  running: boolean;
  /** Main process pid in the host pid namespace; 0 if not running. */
  pid: number;
  /** The full `GET /containers/<id>/json` answer (mounts, HostConfig.Tmpfs, ...). */
  inspect: Docker.ContainerInspectInfo;
}

const FULL_ID = /^[0-9a-f]{64}$/;

/** True for a full 64-hex container id. */
export function isFullContainerId(id: unknown): id is string {
  return typeof id === 'string' && FULL_ID.test(id);
}

/** Builds a {@link ContainerRecord} from an inspect answer; undefined if it carries no full container id. */
export function buildContainerRecord(inspect: Docker.ContainerInspectInfo): ContainerRecord | undefined {
  if (!isFullContainerId(inspect?.Id)) return undefined;
  const state = inspect.State as Partial<Docker.ContainerInspectInfo['State']> | undefined;
  const running = state?.Running === true;
  const pid = running && typeof state?.Pid === 'number' && state.Pid > 0 ? state.Pid : 0;
  return {
    id: inspect.Id,
    name: typeof inspect.Name === 'string' ? inspect.Name.replace(/^\//, '') : '',
    state: typeof state?.Status === 'string' ? state.Status : 'unknown',
    running,
    pid,
    inspect,
  };
}
