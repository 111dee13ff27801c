import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { createExcluder, parseExcludeOption } from '../src/exclude.js';

describe('parseExcludeOption', () => {
  it('splits pids from command names', () => {
    expect(parseExcludeOption(' dockerd, 1234 ,scope,,')).toEqual({ pids: new Set([1234]), commands: new Set(['dockerd', 'scope']) });
  });

  it('refuses a pid of 0 and a name the kernel would have cut, saying what to use', () => {
    expect(() => parseExcludeOption('0')).toThrow(TypeError);
    expect(() => parseExcludeOption('a-very-long-command-name')).toThrow('--exclude: command name "a-very-long-command-name" is longer than the 15 characters the kernel keeps in /proc/<pid>/comm (use "a-very-long-com")');
  });
});

describe('createExcluder on the real /proc', () => {
  it('leaves out the pids and command names it is given, and nothing else', async () => {
    const sleeper = spawn('sleep', ['30'], { stdio: 'ignore' });
    try {
      const none = createExcluder('/proc');
      expect(await none.isExcluded(process.pid)).toBe(false);
      expect(await none.isExcluded(sleeper.pid!)).toBe(false);
      expect(await createExcluder('/proc', parseExcludeOption('sleep')).isExcluded(sleeper.pid!)).toBe(true);
      expect(await createExcluder('/proc', parseExcludeOption(String(sleeper.pid))).isExcluded(sleeper.pid!)).toBe(true);
      expect(await createExcluder('/proc', parseExcludeOption('dockerd')).isExcluded(sleeper.pid!)).toBe(false);
    } finally {
      sleeper.kill('SIGKILL');
    }
  });
});
