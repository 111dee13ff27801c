import { describe, expect, it } from 'vitest';
import { markSending, restampBody, serveBody } from '../src/report/served-body.js';

const T1 = '2026-11-30T07:00:00.000Z';
const T2 = '2026-11-30T07:00:01.123Z';

describe('served body', () => {
  const json = JSON.stringify({ a: { timestamp: T1, value: 'x' }, b: { timestamp: T1, value: T1 }, c: { timestamp: '2026-11-30T06:59:00.000Z', value: `not ${T1}` }, d: 'ü' });

  it('re-stamps every quoted collection time, and nothing else, in a new buffer', () => {
    const body = serveBody(json, T1);
    expect(body.offsets).toHaveLength(3);
    const next = restampBody(body, T2);
    expect(next.bytes).not.toBe(body.bytes);
    expect(body.bytes.toString()).toBe(json);
    expect(next.bytes.toString()).toBe(json.replaceAll(`"${T1}"`, `"${T2}"`));
    // Again from the re-stamped body: the offsets still hold.
    expect(restampBody(next, T1).bytes.toString()).toBe(json);
  });

  it('re-stamps into the buffer served before once no write holds it, and copies while one does', () => {
    const first = restampBody(serveBody(json, T1), T2);
    // The buffer the publish made is the spare now; no write holds it: the next re-stamp reuses it.
    const second = restampBody(first, T1);
    expect(second.bytes).toBe(first.spare);
    expect(second.bytes.toString()).toBe(json);
    expect(first.bytes.toString()).toBe(json.replaceAll(`"${T1}"`, `"${T2}"`));
    // A socket still writes the spare (first.bytes): the next re-stamp must not touch it.
    const done = markSending(second.spare!);
    const third = restampBody(second, T2);
    expect(third.bytes).not.toBe(second.spare);
    expect(third.bytes).not.toBe(second.bytes);
    expect(second.spare!.toString()).toBe(json.replaceAll(`"${T1}"`, `"${T2}"`));
    expect(third.bytes.toString()).toBe(json.replaceAll(`"${T1}"`, `"${T2}"`));
    expect(second.bytes.toString()).toBe(json);
    done();
    done();
    // Written: reusable again.
    const spareOfFourth = third.spare;
    expect(restampBody(third, T1).bytes).toBe(spareOfFourth);
  });

  it('falls back to a string replace for a stamp of another length, and leaves a body without stamp alone', () => {
    const odd = '+012026-11-30T07:00:01.123Z';
    expect(restampBody(serveBody(json, T1), odd).bytes.toString()).toBe(json.replaceAll(`"${T1}"`, `"${odd}"`));
    expect(restampBody(serveBody('{}', ''), T2).bytes.toString()).toBe('{}');
  });
});
