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
 * The same body with every `"<old stamp>"` replaced by `"<stamp>"`. A new buffer: the old one may still be
 * in a socket's write queue.
 */
export function restampBody(body: ServedBody, stamp: string): ServedBody {
  if (body.stamp === '' || stamp.length !== body.stamp.length) {
    return serveBody(body.bytes.toString('utf8').replaceAll(`"${body.stamp}"`, `"${stamp}"`), stamp);
  }
  const bytes = Buffer.allocUnsafe(body.bytes.length);
  body.bytes.copy(bytes);
  // ISO stamps are ASCII, one byte per character; +1 skips the opening quote.
  for (const at of body.offsets) bytes.write(stamp, at + 1, 'latin1');
  return { bytes, stamp, offsets: body.offsets };
}
