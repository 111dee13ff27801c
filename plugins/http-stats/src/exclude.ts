import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

/** What `--exclude` names: pids, and command names as the kernel knows them (`/proc/<pid>/comm`). */
export interface ExcludeRules {
  pids: Set<number>;
  commands: Set<string>;
}

/**
 * Parses an `--exclude` value: comma-separated pids and command names (`dockerd,scope,1234`). Command
 * names are matched exactly against `/proc/<pid>/comm` (at most 15 characters, as the kernel cuts them).
 * Throws a TypeError naming a bad entry.
 */
export function parseExcludeOption(text: string): ExcludeRules {
  const rules: ExcludeRules = { pids: new Set(), commands: new Set() };
  for (const raw of text.split(',')) {
    const entry = raw.trim();
    if (entry === '') continue;
    if (/^[0-9]+$/.test(entry)) {
      const pid = Number(entry);
      if (!Number.isSafeInteger(pid) || pid <= 0) throw new TypeError(`--exclude: ${JSON.stringify(entry)} is not a valid pid`);
      rules.pids.add(pid);
    } else if ([...entry].length > 15) {
      throw new TypeError(`--exclude: command name ${JSON.stringify(entry)} is longer than the 15 characters the kernel keeps in /proc/<pid>/comm (use ${JSON.stringify([...entry].slice(0, 15).join(''))})`);
    } else rules.commands.add(entry);
  }
  return rules;
}

/** Decides whether a pid's traffic is left out of the report. */
export interface Excluder {
  /** Answers synchronously once the pid's command is known (cached), so a steady collection awaits nothing. */
  isExcluded(pid: number): boolean | Promise<boolean>;
  /** Forgets a pid (it exited), so a reused pid is looked up afresh. */
  forget(pid: number): void;
}

/**
 * Creates the `--exclude` check. (The plugin's own pid never reaches it: the bpftrace program skips it in
 * the kernel.) A pid's command is read once and cached until {@link Excluder.forget}.
 */
export function createExcluder(procRoot: string, rules: ExcludeRules = { pids: new Set(), commands: new Set() }): Excluder {
  const byCommand = new Map<number, boolean>();
  return {
    isExcluded(pid) {
      if (rules.pids.has(pid)) return true;
      if (rules.commands.size === 0) return false;
      const known = byCommand.get(pid);
      if (known !== undefined) return known;
      // An unreadable comm (the process just exited) matches no name; the next collection drops the pid anyway.
      return readFile(join(procRoot, String(pid), 'comm'), 'utf8').then(
        (comm) => rules.commands.has(comm.trim()),
        () => false,
      ).then((excluded) => {
        byCommand.set(pid, excluded);
        return excluded;
      });
    },
    forget(pid) {
      byCommand.delete(pid);
    },
  };
}
