/**
 * A serialized report as the socket serves it: the bytes, made once per publish (never per request), and
 * where the collection time sits in them, so a collection that says UNCHANGED re-stamps a copy of the bytes
 * in place instead of re-encoding the whole report. An RFC 3339 stamp from `toISOString()` always has the
 * same length, so the offsets stay valid; a stamp of another length falls back to a string replace.
 */

/** What `/report` answers, and where its collection time is. */
export interface ServedBody {
  readonly bytes: Buffer;
  /** The collection time stamped in `bytes` ('' when none: nothing built yet). */
  readonly stamp: string;
  /** Byte offsets of every `"<stamp>"` in `bytes` (the opening quote's). */
  readonly offsets: readonly number[];
  /**
   * After a re-stamp: the buffer served before, the same bytes but for the stamps. The next re-stamp writes its
   * stamps into it instead of copying the whole body again (a 150 KB table each second), once no socket write holds it.
   */
  readonly spare?: Buffer;
}

/** Buffers handed to a socket write that has not finished, with how many writes hold each. */
const sending = new WeakMap<Buffer, number>();

/**
 * Records that `bytes` was handed to a socket write; call the returned function (idempotent) when the write
 * finished. A buffer whose write never reports back is simply never reused.
 */
export function markSending(bytes: Buffer): () => void {
  sending.set(bytes, (sending.get(bytes) ?? 0) + 1);
  let done = false;
  return () => {
    if (done) return;
    done = true;
    const left = (sending.get(bytes) ?? 1) - 1;
    if (left <= 0) sending.delete(bytes);
    else sending.set(bytes, left);
  };
}

function offsetsOf(bytes: Buffer, stamp: string): number[] {
  if (stamp === '') return [];
  const needle = Buffer.from(`"${stamp}"`);
  const offsets: number[] = [];
  for (let at = bytes.indexOf(needle); at !== -1; at = bytes.indexOf(needle, at + needle.length)) offsets.push(at);
  return offsets;
}

/** The body for `json`, whose collection time is `stamp`. */
export function serveBody(json: string, stamp: string): ServedBody {
  const bytes = Buffer.from(json);
  return { bytes, stamp, offsets: offsetsOf(bytes, stamp) };
}

/**
 * The same body with every `"<old stamp>"` replaced by `"<stamp>"`, in another buffer than `body.bytes` (which may
 * still be in a socket's write queue): the spare one when no write holds it, else a fresh copy.
 */
export function restampBody(body: ServedBody, stamp: string): ServedBody {
  if (body.stamp === '' || stamp.length !== body.stamp.length) {
    return serveBody(body.bytes.toString('utf8').replaceAll(`"${body.stamp}"`, `"${stamp}"`), stamp);
  }
  let bytes = body.spare;
  if (bytes === undefined || bytes.length !== body.bytes.length || sending.has(bytes)) {
    bytes = Buffer.allocUnsafe(body.bytes.length);
    body.bytes.copy(bytes);
  }
  // ISO stamps are ASCII, one byte per character; +1 skips the opening quote. The spare differs from body.bytes
  // only at these offsets (it held an older stamp there), so writing them all makes the two equal but for the stamp.
  for (const at of body.offsets) bytes.write(stamp, at + 1, 'latin1');
  return { bytes, stamp, offsets: body.offsets, spare: body.bytes };
}
