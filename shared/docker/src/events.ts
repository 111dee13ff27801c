/** One message of Docker's `/events` stream, reduced to what the inventory uses. */
export interface DockerEvent {
  /** `container`, `image`, `network`, ... */
  type: string;
  /** `create`, `start`, `die`, `destroy`, `exec_start: sh`, ... */
  action: string;
  /** Object id: the full container id for container events. */
  id: string;
}

/**
 * Container actions that can change what the inventory holds (presence, name, state, pid): Docker's, plus
 * podman's `init`, `cleanup` and `remove` (podman sends `remove` where Docker sends `destroy`).
 * Exec, attach, top, resize, health and copy events change none of it and are ignored.
 */
export const INVENTORY_ACTIONS: ReadonlySet<string> = new Set([
  'create', 'init', 'start', 'restart', 'die', 'stop', 'kill', 'cleanup', 'destroy', 'remove', 'rename', 'pause', 'unpause', 'update', 'oom',
]);

/** Actions after which the container no longer exists. */
export const REMOVAL_ACTIONS: ReadonlySet<string> = new Set(['destroy', 'remove']);

/** Parses one line of the event stream; undefined for a line that is not an event object. */
export function parseDockerEvent(line: string): DockerEvent | undefined {
  const text = line.trim();
  if (text === '') return undefined;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    // A garbled line is skipped: the periodic full resync repairs whatever it described.
    return undefined;
  }
  if (value === null || typeof value !== 'object') return undefined;
  const record = value as Record<string, unknown>;
  const actor = (record['Actor'] ?? {}) as Record<string, unknown>;
  const type = typeof record['Type'] === 'string' ? record['Type'] : typeof record['type'] === 'string' ? record['type'] : '';
  const action = typeof record['Action'] === 'string' ? record['Action'] : typeof record['status'] === 'string' ? record['status'] : '';
  const id = typeof actor['ID'] === 'string' ? actor['ID'] : typeof record['id'] === 'string' ? record['id'] : '';
  if (type === '' || action === '' || id === '') return undefined;
  return { type, action, id };
}

/** True when the event may change the container inventory. */
export function isInventoryEvent(event: DockerEvent): boolean {
  return event.type === 'container' && INVENTORY_ACTIONS.has(event.action);
}

/** Longest line kept while waiting for its newline; Docker's event lines are a few KiB. */
export const MAX_EVENT_LINE_CHARS = 1024 * 1024;

/**
 * Splits a text stream into lines; keeps the unfinished tail between chunks. A tail longer than `maxLineChars`
 * is dropped (that one event is lost, and the periodic resync covers it) so memory stays bounded.
 */
export function createLineSplitter(onLine: (line: string) => void, maxLineChars = MAX_EVENT_LINE_CHARS): { push(chunk: string): void; end(): void } {
  let tail = '';
  let dropping = false;
  return {
    push(chunk) {
      const parts = (tail + chunk).split('\n');
      tail = parts.pop() ?? '';
      for (const part of parts) {
        if (dropping) dropping = false;
        else onLine(part);
      }
      if (tail.length > maxLineChars) {
        tail = '';
        dropping = true;
      }
    },
    end() {
      if (tail !== '') onLine(tail);
      tail = '';
    },
  };
}
