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

/** A file re-read every collection: see {@link openKernelFile}. */
export interface KernelFile {
  /** The file's current text; throws like `readFileSync` (ENOENT, ...) or {@link NotRegularFileError}. */
  read(): string;
  /** Closes the kept descriptor (the next `read()` opens it again). */
  close(): void;
}

/**
 * A /proc file read again and again: opened once and kept open, re-read with pread at offset 0 into a
 * buffer kept between reads (a fresh snapshot each time, for seq_file and regular files alike). Before
 * each read the path is `stat`ed: if it vanished or now names another file (a fixture replaced under a
 * test's `--proc-root`, a FIFO put in its place), the kept descriptor is dropped and the path opened
 * again, with the regular-file check.
 */
export function openKernelFile(path: string): KernelFile {
  let fd: number | undefined;
  let identity: { dev: number; ino: number } | undefined;
  let buffer: Buffer = Buffer.allocUnsafe(INITIAL_BUFFER_BYTES);
  const close = () => {
    if (fd !== undefined) closeSync(fd);
    fd = undefined;
    identity = undefined;
  };
  return {
    read() {
      if (fd !== undefined) {
        let now: Stats | undefined;
        try {
          now = statSync(path, { throwIfNoEntry: false });
        } catch (error) {
          close();
          throw error;
        }
        if (!now || now.ino !== identity?.ino || now.dev !== identity.dev) close();
      }
      if (fd === undefined) {
        const opened = openRegular(path);
        fd = opened.fd;
        identity = { dev: opened.stats.dev, ino: opened.stats.ino };
      }
      try {
        const result = readAll(fd, buffer);
        buffer = result.buffer;
        return buffer.toString('latin1', 0, result.length);
      } catch (error) {
        close();
        throw error;
      }
    },
    close,
  };
}
