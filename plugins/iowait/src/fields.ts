/**
 * Whitespace-separated fields of one line of kernel text, located by offset instead of split into strings:
 * the parsers of files read every second (/proc/stat, /proc/diskstats) use it to read counters without
 * allocating a string per field. Pure; one instance is reused line after line.
 */

/** Fields located per line; a line with more still counts them all (`count`), only these are addressable. */
const CAPACITY = 32;

// What /\s/ matches in ASCII, but the newline (a line never holds one): space, \t, \v, \f, \r.
function isBlank(code: number): boolean {
  return code === 32 || (code >= 9 && code <= 13 && code !== 10);
}

/** The fields of one line: `scan` it, then read field `i` as text or as a counter. */
export class LineFields {
  readonly #starts = new Int32Array(CAPACITY);
  readonly #ends = new Int32Array(CAPACITY);
  #text = '';
  /** Fields of the line last scanned. */
  count = 0;

  /** Locates the fields of `text[from, to)`; returns their number. */
  scan(text: string, from: number, to: number): number {
    this.#text = text;
    let count = 0;
    let i = from;
    while (i < to) {
      while (i < to && isBlank(text.charCodeAt(i))) i++;
      if (i >= to) break;
      const start = i;
      while (i < to && !isBlank(text.charCodeAt(i))) i++;
      if (count < CAPACITY) {
        this.#starts[count] = start;
        this.#ends[count] = i;
      }
      count++;
    }
    this.count = count;
    return count;
  }

  /** Field `i` as a string. */
  text(i: number): string {
    return this.#text.slice(this.#starts[i], this.#ends[i]);
  }

  /** Field `i` from its `skip`-th character on (the value of a `key=value` field). */
  rest(i: number, skip: number): string {
    return this.#text.slice(this.#starts[i]! + skip, this.#ends[i]);
  }

  /** True when field `i` starts with `prefix`. */
  startsWith(i: number, prefix: string): boolean {
    return this.#ends[i]! - this.#starts[i]! >= prefix.length && this.#text.startsWith(prefix, this.#starts[i]);
  }

  /** True when field `i` is exactly `value`. */
  is(i: number, value: string): boolean {
    const start = this.#starts[i]!;
    return this.#ends[i]! - start === value.length && this.#text.startsWith(value, start);
  }

  /**
   * Field `i` as a non-negative integer (digits only); otherwise throws an Error `<context> <field>: expected a
   * non-negative integer, got "<text>"`, the same message the string parsers give.
   */
  counter(i: number, context: string, field: string): number {
    const text = this.#text;
    const start = this.#starts[i]!;
    const end = this.#ends[i]!;
    let value = 0;
    for (let j = start; j < end; j++) {
      const digit = text.charCodeAt(j) - 48;
      if (digit < 0 || digit > 9) throw new Error(`${context} ${field}: expected a non-negative integer, got ${JSON.stringify(text.slice(start, end))}`);
      value = value * 10 + digit;
    }
    // Beyond 2^53 the running sum may round differently from Number(): let Number() round it, as before.
    return end - start > 15 ? Number(text.slice(start, end)) : value;
  }
}
