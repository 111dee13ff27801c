import { describe, expect, it } from 'vitest';
import { createLogger, normalizeTransitionState } from '../src/index.js';

describe('transition logging', () => {
  it('logs a state once, and again only when it changes', () => {
    const lines: string[] = [];
    const log = createLogger({ write: (l) => lines.push(l) });
    for (const state of ['up', 'up', 'down', 'down', 'up']) log.transition('k', state, 'info', `now ${state}`);
    expect(lines.map((l) => l.split(' ').slice(2).join(' '))).toEqual(['"now up"', '"now down"', '"now up"']);
  });

  it('does not log again when only a number or an id in a free-text state changes', () => {
    const lines: string[] = [];
    const log = createLogger({ write: (l) => lines.push(l) });
    log.transition('collect', 'failed:collection took longer than 1001 ms', 'warn', 'failed');
    log.transition('collect', 'failed:collection took longer than 1002 ms', 'warn', 'failed');
    log.transition('collect', 'failed:cannot read /proc/4242/ns/net', 'warn', 'failed');
    log.transition('collect', 'failed:cannot read /proc/4243/ns/net', 'warn', 'failed');
    log.transition('c', 'down:container 0123456789abcdef0123 gone', 'warn', 'x');
    log.transition('c', 'down:container fedcba9876543210fedc gone', 'warn', 'x');
    expect(lines).toHaveLength(3);
    expect(normalizeTransitionState('pid 12 took 30 ms')).toBe('pid # took # ms');
  });

  it('remembers a bounded number of keys: memory does not grow with keys made of pids and ids', () => {
    const lines: string[] = [];
    const log = createLogger({ level: 'debug', write: (l) => lines.push(l), maxStates: 100 });
    log.transition('hot', 'up', 'info', 'hot up');
    for (let pid = 0; pid < 10_000; pid++) {
      log.transition(`pid:${pid}`, 'seen', 'debug', 'seen');
      // A key in use stays remembered (least recently used goes first).
      if (pid % 50 === 0) log.transition('hot', 'up', 'info', 'hot up');
    }
    expect(lines.filter((l) => l.includes('hot up'))).toHaveLength(1);
    // An old key was forgotten: its state logs once more.
    const before = lines.length;
    log.transition('pid:0', 'seen', 'debug', 'seen');
    expect(lines.length).toBe(before + 1);
    // A recent one was not.
    log.transition('pid:9999', 'seen', 'debug', 'seen');
    expect(lines.length).toBe(before + 1);
  });
});
