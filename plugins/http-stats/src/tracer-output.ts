/**
 * Reads one bpftrace process's output: stdout lines become {@link TracerEvent}s, stderr keeps the last few
 * meaningful lines for the "bpftrace ended (...)" message. No supervision here (that is tracer.ts).
 */
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import type { Logger } from '@scope-plugins/core';
import { parseTracerLine, type TracerEvent } from './parse.js';

/** stderr lines that say nothing about a failure. */
const HARMLESS_STDERR = /RLIMIT_MEMLOCK|^Attaching \d+ probes?|Addrspace is not set/;

/** How many stderr lines {@link followTracerOutput} keeps. */
export const STDERR_TAIL_LINES = 5;

/** What {@link followTracerOutput} reports. */
export interface TracerOutputHandlers {
  log: Logger;
  /** Every parsed event (including attached/ready/lost), with the time its line arrived. */
  onEvent(event: TracerEvent, at: Date): void;
  /** The program's BEGIN line arrived: every probe is attached; `probes` as bpftrace announced them. */
  onReady(at: Date, probes: number): void;
}

/** Follows stdout and stderr; returns the stderr tail as it stands when read (the last lines, trimmed). */
export function followTracerOutput(stdout: Readable, stderr: Readable, handlers: TracerOutputHandlers): { stderrTail(): string[] } {
  const tail: string[] = [];
  // readline re-emits its input's errors; without a listener one (EIO on a pipe) would be uncaught.
  // The process's end is what the supervisor acts on, so an unreadable pipe is only logged.
  const onError = (which: string) => (error: Error) => handlers.log.warn(`cannot read bpftrace's ${which}; its lines are lost until it is restarted`, { error: error.message });
  createInterface({ input: stderr }).on('error', onError('stderr')).on('line', (line) => {
    if (line.trim() === '' || HARMLESS_STDERR.test(line)) return;
    tail.push(line.trim());
    if (tail.length > STDERR_TAIL_LINES) tail.shift();
  });
  let badLines = 0;
  let probes = 0;
  createInterface({ input: stdout }).on('error', onError('stdout')).on('line', (line) => {
    const at = new Date();
    const event = parseTracerLine(line);
    if (!event) return;
    if (event.kind === 'error') {
      // A bad line loses only itself; say so once per run rather than per line.
      if (badLines++ === 0) handlers.log.warn('bpftrace printed a line http-stats cannot read; skipping such lines', { problem: event.message, line: event.line.slice(0, 200) });
      return;
    }
    if (event.kind === 'attached') probes = event.probes;
    // bpftrace prints attached_probes before attaching; the program's BEGIN runs once all are attached.
    else if (event.kind === 'ready') handlers.onReady(at, probes);
    else if (event.kind === 'lost') handlers.log.warn('bpftrace lost events', { events: event.events });
    handlers.onEvent(event, at);
  });
  return { stderrTail: () => [...tail] };
}
