import { spawn, type ChildProcess } from 'node:child_process';
import { readFile, readlink } from 'node:fs/promises';

/** A process tree in fresh uts/ipc/net/pid/mnt namespaces, made by the real `unshare`. */
export interface Unshared {
  /** The unshare process: holds the new mnt, uts, ipc and net namespaces. */
  parentPid: number;
  /** Its forked child (`sleep`), pid 1 of the new pid namespace. */
  childPid: number;
  /** Namespace inodes by type, read from the child's /proc links. */
  inodes: Record<'mnt' | 'net' | 'pid' | 'uts' | 'ipc', string>;
  /** SIGKILLs the tree (the child of `--pid --fork` ignores SIGTERM; `--kill-child` takes it down too) and waits. */
  kill(): Promise<void>;
}

async function waitFor<T>(read: () => Promise<T | undefined>, what: string, timeoutMs = 5000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const value = await read().catch(() => undefined);
    if (value !== undefined) return value;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error(`timed out waiting for ${what}`);
}

async function inode(pid: number, type: string): Promise<string> {
  const link = await readlink(`/proc/${pid}/ns/${type}`);
  const match = /\[(\d+)\]/.exec(link);
  if (!match?.[1]) throw new Error(`unexpected link ${link}`);
  return match[1];
}

/** Starts `unshare --uts --ipc --net --pid --fork --mount-proc --kill-child sleep <seconds>` and waits until its child runs. */
export async function startUnshare(seconds = 60): Promise<Unshared> {
  const child: ChildProcess = spawn('unshare', ['--uts', '--ipc', '--net', '--pid', '--fork', '--mount-proc', '--kill-child', 'sleep', String(seconds)], { stdio: 'ignore' });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const parentPid = child.pid;
  if (parentPid === undefined) throw new Error('unshare did not start');
  const childPid = await waitFor(async () => {
    const text = await readFile(`/proc/${parentPid}/task/${parentPid}/children`, 'utf8');
    const pid = Number(text.trim().split(/\s+/)[0]);
    if (!pid) return undefined;
    // Wait until the child has exec'd sleep, so its command line is final.
    const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8');
    return cmdline.startsWith('sleep\0') ? pid : undefined;
  }, 'the unshare child');
  const inodes = {
    mnt: await inode(childPid, 'mnt'),
    net: await inode(childPid, 'net'),
    pid: await inode(childPid, 'pid'),
    uts: await inode(childPid, 'uts'),
    ipc: await inode(childPid, 'ipc'),
  };
  let killed = false;
  return {
    parentPid,
    childPid,
    inodes,
    async kill() {
      if (killed) return;
      killed = true;
      child.kill('SIGKILL');
      await exited;
      // --kill-child delivers SIGKILL to the child through PDEATHSIG; make sure it is gone before returning.
      try {
        process.kill(childPid, 'SIGKILL');
      } catch {
        // Already gone: the normal case.
      }
      await waitFor(async () => ((await readFile(`/proc/${childPid}/cmdline`, 'utf8').catch(() => 'gone')) === 'gone' ? true : undefined), 'the unshare child to exit');
    },
  };
}
