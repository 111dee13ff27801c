/**
 * Pure parsers: text in, typed record out, no IO. Tested on committed fixtures (test/fixtures).
 * This one reads /proc/loadavg: replace it with the parser of your own source.
 */

/** The five fields of /proc/loadavg. */
export interface LoadAverage {
  /** Average number of runnable (and uninterruptible) tasks over 1, 5 and 15 minutes. */
  load1: number;
  load5: number;
  load15: number;
  /** Tasks runnable right now. */
  runnable: number;
  /** Tasks (threads) that exist. */
  tasks: number;
}

/** Parses `/proc/loadavg` (`14.19 14.89 11.84 26/1134 4094`); throws an Error quoting the text when it does not look like one. */
export function parseLoadavg(text: string): LoadAverage {
  const match = /^(\d+\.\d+) (\d+\.\d+) (\d+\.\d+) (\d+)\/(\d+) \d+\s*$/.exec(text);
  if (!match) throw new Error(`not a /proc/loadavg line: ${JSON.stringify(text.slice(0, 80))}`);
  return {
    load1: Number(match[1]),
    load5: Number(match[2]),
    load15: Number(match[3]),
    runnable: Number(match[4]),
    tasks: Number(match[5]),
  };
}
