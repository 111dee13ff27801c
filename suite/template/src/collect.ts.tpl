/**
 * The only place that touches the host. Paths come from the plugin context (`--proc-root`), so tests
 * point it at a fixture directory instead of mocking anything.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseLoadavg, type LoadAverage } from './parse.js';

/** Reads and parses `<procRoot>/loadavg`. */
export async function readLoadavg(procRoot: string, signal?: AbortSignal): Promise<LoadAverage> {
  return parseLoadavg(await readFile(join(procRoot, 'loadavg'), { encoding: 'utf8', signal }));
}
