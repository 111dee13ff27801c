/**
 * Synchronous reads of kernel pseudo-files (`/proc`, `/sys`), refused at once for anything that could block.
 *
 * Why synchronous: each `fs.promises.readFile` is an open, an fstat, two reads and a close, each a hop to
 * libuv's thread pool, a promise and an event-loop wake-up. For a few hundred bytes of /proc text that the
 * kernel formats on the spot that machinery costs far more than the read (bench/results/iowait.md).
 *
 * Why it is safe: a read of a regular file of procfs or sysfs never waits for anybody. What could block
 * the event loop is anything else put in a file's place (a FIFO under a fake `--proc-root`, a device, a
 * socket): it is opened with O_NONBLOCK (so not even the open waits for a FIFO's writer), `fstat`ed, and
 * refused with {@link NotRegularFileError} unless it is a regular file.
 */
import { closeSync, constants, fstatSync, openSync, readSync, statSync, type Stats } from 'node:fs';
import { open, statfs } from 'node:fs/promises';

// libuv adds O_CLOEXEC itself.
const OPEN_FLAGS = constants.O_RDONLY | constants.O_NONBLOCK;

/** The buffer a reader starts with; it doubles whenever a file fills it (/proc/stat of a 256-CPU host). */
const INITIAL_BUFFER_BYTES = 16 * 1024;

function describeKind(stats: Stats): string {
  if (stats.isFIFO()) return 'a FIFO';
  if (stats.isSocket()) return 'a socket';
  if (stats.isCharacterDevice()) return 'a character device';
  if (stats.isBlockDevice()) return 'a block device';
  if (stats.isDirectory()) return 'a directory';
  return 'not a regular file';
}

/** A path that is not a regular file: reading it could block, so it was not read. `code` is `ENOTREG`. */
export class NotRegularFileError extends Error {
  readonly code = 'ENOTREG';
  readonly path: string;

  constructor(path: string, kind: string) {
    super(`${path} is ${kind}, not a regular file: refused (a read could block)`);
    this.name = 'NotRegularFileError';
    this.path = path;
  }
}

/** Opens `path` without waiting for anybody and returns the fd, or throws (ENOENT, EACCES, {@link NotRegularFileError}). */
function openRegular(path: string): { fd: number; stats: Stats } {
  const fd = openSync(path, OPEN_FLAGS);
  try {
    const stats = fstatSync(fd);
    if (!stats.isFile()) throw new NotRegularFileError(path, describeKind(stats));
    return { fd, stats };
  } catch (error) {
    closeSync(fd);
    throw error;
  }
}

/**
 * Reads from offset 0 to the end into `buffer`, growing it when a file fills it; returns the buffer used
 * and the length. seq_file (procfs) answers a read at offset 0 with freshly formatted text, and may hand
 * it out in page-sized pieces, so the loop goes on until a read returns 0.
 */
function readAll(fd: number, buffer: Buffer): { buffer: Buffer; length: number } {
  let length = 0;
  for (;;) {
    if (length === buffer.length) {
      const bigger = Buffer.allocUnsafe(buffer.length * 2);
      buffer.copy(bigger, 0, 0, length);
      buffer = bigger;
    }
    const n = readSync(fd, buffer, length, buffer.length - length, length);
    if (n === 0) return { buffer, length };
    length += n;
  }
}

/** Reads a small file of /proc or /sys once, synchronously (open, fstat, read, close); see the module comment. */
export function readKernelFileSync(path: string): string {
  const { fd } = openRegular(path);
  try {
    const { buffer, length } = readAll(fd, Buffer.allocUnsafe(4096));
    // Kernel pseudo-files are ASCII: latin1 is the cheapest exact decoding.
    return buffer.toString('latin1', 0, length);
  } finally {
    closeSync(fd);
  }
}

/** Like {@link readKernelFileSync}, but trimmed, and undefined when it cannot be read (an absent sysfs attribute). */
export function readKernelTextOptional(path: string): string | undefined {
  try {
    return readKernelFileSync(path).trim();
  } catch {
    // Absent, unreadable or not a regular file: for a sysfs attribute that means "no value", said by the caller.
    return undefined;
  }
}

/**
 * Filesystems whose regular files a read never waits on for long: procfs and sysfs (the kernel formats the
 * text on the spot), tmpfs/ramfs (memory), and local disk filesystems (a test's fixture under `--proc-root`).
 * Magic numbers from linux/magic.h, as `statfs(2)` reports them.
 */
const NEVER_BLOCKS = new Map<number, string>([
  [0x9fa0, 'proc'],
  [0x62656572, 'sysfs'],
  [0x01021994, 'tmpfs'],
  [0x858458f6, 'ramfs'],
  [0xef53, 'ext4'],
  [0x58465342, 'xfs'],
  [0x9123683e, 'btrfs'],
  [0x794c7630, 'overlay'],
]);

/** Files of these never change under a path while it stays mounted: the kept descriptor needs no identity check. */
const STABLE = new Set(['proc', 'sysfs']);

/** How a kept file is read; decided when it is (re)opened. */
type Mode =
  | { kind: 'closed' }
  | { kind: 'sync'; fd: number; dev: number; ino: number; fsName: string }
  /** Not a filesystem known never to block (FUSE such as lxcfs' /proc/stat, NFS, 9p): read off the event loop. */
  | { kind: 'async'; fsType: number };

/** A file re-read every collection: see {@link openKernelFile}. */
export interface KernelFile {
  /**
   * The file's current text: a string when read synchronously, a promise on a filesystem that could block.
   * Throws (or rejects) like `readFile` (ENOENT, ...) or with {@link NotRegularFileError}.
   */
  read(): string | Promise<string>;
  /** The filesystem the file was last opened on (`proc`, `tmpfs`, ..., or its magic number in hex); undefined while closed. */
  filesystem(): string | undefined;
  /** Closes the kept descriptor (the next `read()` opens it again). */
  close(): void;
}

/** One read off the event loop (open O_NONBLOCK, fstat, read, close), for a file on a filesystem that could block. */
async function readAsync(path: string): Promise<string> {
  const handle = await open(path, OPEN_FLAGS);
  try {
    const stats = await handle.stat();
    if (!stats.isFile()) throw new NotRegularFileError(path, describeKind(stats));
    return await handle.readFile('latin1');
  } finally {
    await handle.close();
  }
}

/**
 * A /proc file read again and again. When it is opened (first read, or after it vanished or failed), the
 * filesystem under the path is asked for once, off the event loop (`statfs`, which opens nothing, so not a
 * FIFO either). On a filesystem that never blocks ({@link NEVER_BLOCKS}; procfs in production) the file is
 * opened once and kept open, and every read is one synchronous pread at offset 0 into a buffer kept between
 * reads: a fresh snapshot each time, for seq_file and regular files alike. On procfs and sysfs a path keeps
 * naming the same file, so that is all; elsewhere (a test's fixture tree) the path is `stat`ed before each
 * read and, if it vanished or names another file now (a fixture replaced, a FIFO put in its place), the
 * file is opened again, with the regular-file check. On any other filesystem (lxcfs' FUSE files over
 * /proc/stat in an LXC container, NFS) every read goes through the thread pool, as a read that could
 * hang must, with the same regular-file check.
 */
export function openKernelFile(path: string): KernelFile {
  let mode: Mode = { kind: 'closed' };
  let buffer: Buffer = Buffer.allocUnsafe(INITIAL_BUFFER_BYTES);
  const close = () => {
    if (mode.kind === 'sync') closeSync(mode.fd);
    mode = { kind: 'closed' };
  };
  const readKept = (fd: number): string => {
    try {
      const result = readAll(fd, buffer);
      buffer = result.buffer;
      return buffer.toString('latin1', 0, result.length);
    } catch (error) {
      close();
      throw error;
    }
  };
  const reopen = async (): Promise<string> => {
    const { type } = await statfs(path);
    const name = NEVER_BLOCKS.get(type);
    if (name === undefined) {
      mode = { kind: 'async', fsType: type };
      return readAsync(path);
    }
    // Known never to block: from here on everything is synchronous, so nothing can change in between.
    if (mode.kind === 'sync') closeSync(mode.fd);
    const opened = openRegular(path);
    mode = { kind: 'sync', fd: opened.fd, dev: opened.stats.dev, ino: opened.stats.ino, fsName: name };
    return readKept(opened.fd);
  };
  return {
    read() {
      if (mode.kind === 'async') {
        return readAsync(path).catch((error: unknown) => {
          // Decided again at the next read: the path may be on another filesystem when it is back.
          mode = { kind: 'closed' };
          throw error;
        });
      }
      if (mode.kind === 'sync' && !STABLE.has(mode.fsName)) {
        // A local filesystem: stat cannot block, and says whether the path still names the kept file.
        let now: Stats | undefined;
        try {
          now = statSync(path, { throwIfNoEntry: false });
        } catch (error) {
          close();
          throw error;
        }
        if (!now || now.ino !== mode.ino || now.dev !== mode.dev) close();
      }
      if (mode.kind === 'sync') return readKept(mode.fd);
      return reopen();
    },
    filesystem() {
      if (mode.kind === 'closed') return undefined;
      return mode.kind === 'async' ? `0x${mode.fsType.toString(16)}` : mode.fsName;
    },
    close,
  };
}
