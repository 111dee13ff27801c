import type { Readable } from 'node:stream';
import type Docker from 'dockerode';
import type { Logger } from '@scope-plugins/core';
import { buildContainerRecord, isFullContainerId, type ContainerRecord } from './record.js';

/** How {@link createDockerRequests} talks to Docker. */
export interface DockerRequestOptions {
  /** Deadline of each list/inspect request and of opening the event stream. */
  requestTimeoutMs: number;
  /** Parallel inspect requests during a full sync. */
  inspectConcurrency: number;
  log: Logger;
}

function httpStatus(error: unknown): number | undefined {
  const status = (error as { statusCode?: unknown } | null)?.statusCode;
  return typeof status === 'number' ? status : undefined;
}

/** The Docker API calls the inventory makes, each bounded by a deadline and by the session's signal. */
export function createDockerRequests(docker: Docker, options: DockerRequestOptions) {
  const { requestTimeoutMs, inspectConcurrency, log } = options;

  /**
   * Runs one request with a signal aborted by the session or after `requestTimeoutMs`. Hand-made rather than
   * AbortSignal.any, whose dependants pile up on a long-lived session signal in Node 20.
   */
  const withDeadline = async <T>(session: AbortSignal, request: (signal: AbortSignal) => Promise<T>): Promise<T> => {
    const controller = new AbortController();
    const onAbort = () => controller.abort(session.reason);
    if (session.aborted) onAbort();
    else session.addEventListener('abort', onAbort, { once: true });
    const timer = setTimeout(() => controller.abort(Object.assign(new Error('Docker request timed out'), { code: 'ETIMEDOUT' })), requestTimeoutMs);
    try {
      return await request(controller.signal);
    } finally {
      clearTimeout(timer);
      session.removeEventListener('abort', onAbort);
    }
  };

  /** Inspects one container; undefined if it no longer exists (or Docker refuses to describe it). */
  const inspectOne = async (id: string, session: AbortSignal): Promise<ContainerRecord | undefined> => {
    try {
      const info = await withDeadline(session, (abortSignal) => docker.getContainer(id).inspect({ abortSignal }));
      return buildContainerRecord(info);
    } catch (error) {
      const code = httpStatus(error);
      if (code === 404) return undefined;
      // Docker answered but cannot describe this one container: skip it rather than lose all the others.
      if (code !== undefined) {
        log.debug('container inspect refused; skipping it', { container: id, status: code });
        return undefined;
      }
      throw error;
    }
  };

  /** Lists every container (`all: true`) and inspects each, `inspectConcurrency` at a time. */
  const listAll = async (session: AbortSignal): Promise<Map<string, ContainerRecord>> => {
    const list = await withDeadline(session, (abortSignal) => docker.listContainers({ all: true, abortSignal }));
    const ids = list.map((c) => c.Id).filter(isFullContainerId);
    const next = new Map<string, ContainerRecord>();
    let cursor = 0;
    const worker = async () => {
      while (cursor < ids.length) {
        const id = ids[cursor++]!;
        const record = await inspectOne(id, session);
        if (record) next.set(record.id, record);
      }
    };
    await Promise.all(Array.from({ length: Math.min(inspectConcurrency, ids.length) }, worker));
    return next;
  };

  /** Opens the container event stream; only opening has a deadline (the stream itself is idle for long spells). */
  const openEvents = async (session: AbortSignal): Promise<Readable> => {
    const opened = docker.getEvents({ filters: { type: ['container'] }, abortSignal: session }) as unknown as Promise<Readable>;
    let openTimer: NodeJS.Timeout | undefined;
    return Promise.race([
      opened,
      new Promise<never>((_, reject) => {
        openTimer = setTimeout(() => reject(Object.assign(new Error('opening the event stream timed out'), { code: 'ETIMEDOUT' })), requestTimeoutMs);
      }),
    ]).finally(() => clearTimeout(openTimer));
  };

  return { inspectOne, listAll, openEvents };
}
