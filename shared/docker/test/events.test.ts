import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { REMOVAL_ACTIONS, createLineSplitter, isInventoryEvent, parseDockerEvent } from '../src/index.js';

const fixture = readFileSync(new URL('./fixtures/docker-20.10.24-events.ndjson', import.meta.url), 'utf8');
const ID = 'ab7ff94cc6e76aa6259a00b55a4c9d188ea247772af2002f154fa88981224b5b';

describe('parseDockerEvent', () => {
  it('reads the real event stream of a run / exec / rename / rm -f', () => {
    const events = fixture.split('\n').map(parseDockerEvent).filter((e) => e !== undefined);
    expect(events.map((e) => [e.type, e.action, e.id === ID])).toEqual([
      ['container', 'create', true],
      ['container', 'start', true],
      ['container', 'exec_create: true ', true],
      ['container', 'exec_start: true ', true],
      ['container', 'exec_die', true],
      ['container', 'rename', true],
      ['container', 'kill', true],
      ['container', 'die', true],
      ['container', 'destroy', true],
    ]);
    expect(events.filter(isInventoryEvent).map((e) => e.action)).toEqual(['create', 'start', 'rename', 'kill', 'die', 'destroy']);
  });

  it('reads podman\'s Docker-compatible stream, whose removal action is remove, not destroy', () => {
    const podman = readFileSync(new URL('./fixtures/podman-4.3.1-events.ndjson', import.meta.url), 'utf8');
    const events = podman.split('\n').map(parseDockerEvent).filter((e) => e !== undefined);
    expect(events.filter(isInventoryEvent).map((e) => e.action)).toEqual(['create', 'init', 'start', 'rename', 'kill', 'die', 'cleanup', 'remove']);
    expect(events.filter((e) => REMOVAL_ACTIONS.has(e.action)).map((e) => e.action)).toEqual(['remove']);
    expect(new Set(events.map((e) => e.id)).size).toBe(1);
  });

  it('skips lines that are not events', () => {
    expect(['', '{', 'null', '42', '{"Type":"container"}', '{"Type":"container","Action":"start"}'].map(parseDockerEvent)).toEqual([
      undefined, undefined, undefined, undefined, undefined, undefined,
    ]);
  });

  it('ignores events of other object types', () => {
    expect(isInventoryEvent({ type: 'network', action: 'create', id: ID })).toBe(false);
  });
});

describe('createLineSplitter', () => {
  it('gives whole lines whatever the chunking', () => {
    for (const size of [1, 7, 100, fixture.length]) {
      const lines: string[] = [];
      const splitter = createLineSplitter((line) => lines.push(line));
      for (let i = 0; i < fixture.length; i += size) splitter.push(fixture.slice(i, i + size));
      splitter.end();
      expect(lines).toEqual(fixture.split('\n').filter((l) => l !== ''));
    }
  });

  it('drops a line longer than the limit and resumes at the next one', () => {
    const lines: string[] = [];
    const splitter = createLineSplitter((line) => lines.push(line), 10);
    splitter.push('short\n0123456');
    splitter.push('789abcdef');
    splitter.push('ghij\nnext\n');
    splitter.end();
    expect(lines).toEqual(['short', 'next']);
  });
});
