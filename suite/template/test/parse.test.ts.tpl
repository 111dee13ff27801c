import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { parseLoadavg } from '../src/parse.js';

describe('parseLoadavg', () => {
  it('reads the five fields of a real /proc/loadavg (fixtures/README.md says where it is from)', async () => {
    const text = await readFile(new URL('./fixtures/proc/loadavg', import.meta.url), 'utf8');
    expect(parseLoadavg(text)).toEqual({ load1: 14.19, load5: 14.89, load15: 11.84, runnable: 26, tasks: 1134 });
  });

  it('refuses what is not a loadavg line, quoting it', () => {
    expect(() => parseLoadavg('')).toThrow('not a /proc/loadavg line: ""');
    expect(() => parseLoadavg('0.1 0.2 0.3')).toThrow('not a /proc/loadavg line: "0.1 0.2 0.3"');
  });
});
