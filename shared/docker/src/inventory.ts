import { isDeepStrictEqual } from 'node:util';
import { createBackoff, sleepUnlessAborted, validatePositiveNumber, type Logger } from '@scope-plugins/core';
import { DEFAULT_DOCKER_HOST, createDockerClient, formatDockerEndpoint, parseDockerHost } from './docker-host.js';
import { describeDockerFailure, type DockerFailure } from './describe-failure.js';
import { REMOVAL_ACTIONS, createLineSplitter, isInventoryEvent, parseDockerEvent } from './events.js';
import { isFullContainerId, type ContainerRecord } from './record.js';
import { createDockerRequests } from './requests.js';

/** Connection state of an inventory. */
export interface DockerInventoryStatus {
  /** `connecting` until the first sync or failure; `up` while synced and following events; `down` while unreachable. */
  state: 'connecting' | 'up' | 'down';
  /** Why Docker is down, and how to fix it. */
  reason?: string;
  /** When this state began. */
  since: Date;
}

/** A live view of the containers of one Docker engine. */
export interface DockerInventory {
  /** Containers by full id; empty while Docker is unreachable, so a vanished container is never served. */
  containers(): ReadonlyMap<string, ContainerRecord>;
  status(): DockerInventoryStatus;
  /** Resolves after the first successful full sync or the first failure. */
  ready(): Promise<void>;
  /** Stops following Docker. Idempotent. */
  close(): Promise<void>;
}

/** Options of {@link createDockerInventory}. */
export interface DockerInventoryOptions {
  /** Docker endpoint (see {@link parseDockerHost}). @default 'unix:///var/run/docker.sock' */
  dockerHost?: string;
  log: Logger;
  /** Full list + inspect as a safety net behind the event stream. @default 30000 */
  resyncMs?: number;
  /** Stops the inventory when aborted. */
  signal?: AbortSignal;
  /** Deadline of each list/inspect request and of opening the event stream. @default 10000 */
  requestTimeoutMs?: number;
  /** First reconnect delay, doubled after each failure. @default 500 */
  backoffInitialMs?: number;
  /** Longest reconnect delay. @default 10000 */
  backoffMaxMs?: number;
  /** Parallel inspect requests during a full sync. @default 8 */
  inspectConcurrency?: number;
}


class StreamEndedError extends Error {
  readonly code = 'ECONNRESET';
}

/**
 * Follows one Docker engine: lists every container once (`all: true`) and inspects each, then follows the
 * event stream so creations, removals, renames and state changes show within about a second, with a full
 * resync every `resyncMs`. When Docker cannot be reached the inventory is emptied, one line per state change
 * is logged through `log.transition`, and it reconnects with doubling backoff until Docker is back.
 * Throws a TypeError for bad options.
 */
export function createDockerInventory(options: DockerInventoryOptions): DockerInventory {
  if (!options || typeof options.log?.transition !== 'function') throw new TypeError('createDockerInventory needs options.log (a core Logger)');
  const dockerHost = options.dockerHost ?? DEFAULT_DOCKER_HOST;
  const endpoint = formatDockerEndpoint(parseDockerHost(dockerHost));
  const resyncMs = validatePositiveNumber('resyncMs', options.resyncMs ?? 30_000);
  const requestTimeoutMs = validatePositiveNumber('requestTimeoutMs', options.requestTimeoutMs ?? 10_000);
  const backoffInitialMs = validatePositiveNumber('backoffInitialMs', options.backoffInitialMs ?? 500);
  const backoffMaxMs = validatePositiveNumber('backoffMaxMs', options.backoffMaxMs ?? 10_000);
  const inspectConcurrency = Math.floor(validatePositiveNumber('inspectConcurrency', options.inspectConcurrency ?? 8));
  const docker = createDockerClient({ dockerHost });
  const log = options.log;
  const logKey = `docker:${endpoint}`;

  const stop = new AbortController();
  const onOuterAbort = () => stop.abort(options.signal?.reason);
  if (options.signal?.aborted) stop.abort(options.signal.reason);
  else options.signal?.addEventListener('abort', onOuterAbort, { once: true });

  let containers = new Map<string, ContainerRecord>();
  let status: DockerInventoryStatus = { state: 'connecting', since: new Date() };
  let settleReady: () => void = () => undefined;
  const readyPromise = new Promise<void>((resolve) => {
    settleReady = resolve;
  });

  const setStatus = (next: DockerInventoryStatus) => {
    if (next.state !== status.state || next.reason !== status.reason) status = next;
  };

  const markDown = (failure: DockerFailure) => {
    // Nothing from a lost connection may be served: the containers may be gone by now.
    containers = new Map();
    setStatus({ state: 'down', reason: failure.reason, since: new Date() });
    log.transition(logKey, `down:${failure.code}`, 'warn', `Docker unreachable, serving no containers and retrying with backoff: ${failure.reason}`, { docker_host: endpoint });
    settleReady();
  };

  // Set when an up session was lost and not yet logged as down, so a quiet reconnect still leaves a trace.
  let interrupted = false;

  const markUp = () => {
    if (interrupted && status.state !== 'down') log.info('Docker connection was interrupted; resynced', { docker_host: endpoint, containers: containers.size });
    interrupted = false;
    setStatus({ state: 'up', since: new Date() });
    log.transition(logKey, 'up', 'info', 'Docker reachable; containers listed, following events', { docker_host: endpoint, containers: containers.size });
    settleReady();
  };

  const { inspectOne, listAll: fullSync, openEvents } = createDockerRequests(docker, { requestTimeoutMs, inspectConcurrency, log });

  const runSession = async (session: AbortController): Promise<never> => {
    let fail: (error: unknown) => void = () => undefined;
    const failed = new Promise<never>((_, reject) => {
      fail = reject;
    });
    // Avoid an unhandled rejection if the stream fails before the session awaits `failed`.
    failed.catch(() => undefined);
    const touched = new Set<string>();
    let syncing = true;
    let chain = Promise.resolve();

    const applyEvent = (id: string, action: string) => {
      if (syncing) touched.add(id);
      // One queue keeps events in Docker's order (create before destroy of the same container).
      chain = chain.then(async () => {
        if (session.signal.aborted) return;
        if (REMOVAL_ACTIONS.has(action)) {
          containers.delete(id);
          return;
        }
        try {
          const record = await inspectOne(id, session.signal);
          if (session.signal.aborted) return;
          if (record) containers.set(id, record);
          else containers.delete(id);
        } catch (error) {
          fail(error);
        }
      });
    };

    const stream = await openEvents(session.signal);
    session.signal.addEventListener('abort', () => stream.destroy(), { once: true });
    const splitter = createLineSplitter((line) => {
      const event = parseDockerEvent(line);
      if (event && isInventoryEvent(event) && isFullContainerId(event.id)) applyEvent(event.id, event.action);
    });
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => splitter.push(chunk));
    stream.on('error', (error) => fail(error));
    stream.on('end', () => fail(new StreamEndedError('Docker closed the event stream')));
    stream.on('close', () => fail(new StreamEndedError('Docker closed the event stream')));

    const sync = async () => {
      const next = await fullSync(session.signal);
      if (session.signal.aborted) return;
      // Let queued event work finish first, so the live map holds the outcome of every event seen so far.
      await chain;
      // The connection may have been lost while the queue drained: then the list is stale and must not be served.
      if (session.signal.aborted) return;
      // Containers that had events since the list was taken are newer in the live map than in the list.
      for (const id of touched) {
        const live = containers.get(id);
        if (live) next.set(id, live);
        else next.delete(id);
      }
      touched.clear();
      // A record that did not change keeps its object, and a resync that changed nothing keeps the map: readers that
      // cache by identity (volume-count answers UNCHANGED while it holds the very same records) rebuild only on change.
      let same = next.size === containers.size;
      for (const [id, record] of next) {
        const old = containers.get(id);
        if (old !== undefined && old !== record && isDeepStrictEqual(old, record)) next.set(id, old);
        else if (old !== record) same = false;
      }
      if (!same) containers = next;
    };

    await Promise.race([sync(), failed]);
    syncing = false;
    if (session.signal.aborted) return failed;
    markUp();

    const resyncLoop = async () => {
      while (!session.signal.aborted) {
        await sleepUnlessAborted(resyncMs, session.signal);
        if (session.signal.aborted) return;
        syncing = true;
        try {
          await sync();
        } catch (error) {
          fail(error);
          return;
        } finally {
          syncing = false;
        }
        log.debug('docker full resync done', { containers: containers.size });
      }
    };
    void resyncLoop();
    return failed;
  };

  const loop = (async () => {
    const backoff = createBackoff({ initialMs: backoffInitialMs, maxMs: backoffMaxMs });
    while (!stop.signal.aborted) {
      const session = new AbortController();
      const onStop = () => session.abort();
      stop.signal.addEventListener('abort', onStop, { once: true });
      let failure: DockerFailure | undefined;
      try {
        await runSession(session);
      } catch (error) {
        if (!stop.signal.aborted) failure = describeDockerFailure(error, endpoint);
      } finally {
        stop.signal.removeEventListener('abort', onStop);
        // Ends the event stream and any request still running for this session.
        session.abort();
      }
      if (stop.signal.aborted || !failure) break;
      if (status.state === 'up') {
        // A lost connection is retried at once, unlogged: a quick daemon restart is one line at most, and a
        // daemon that stays away is logged with the reason the retry gives (socket missing, refused, ...).
        containers = new Map();
        setStatus({ state: 'connecting', reason: failure.reason, since: new Date() });
        log.debug('Docker connection lost; reconnecting', { docker_host: endpoint, reason: failure.reason });
        interrupted = true;
        backoff.reset();
        continue;
      }
      markDown(failure);
      await sleepUnlessAborted(backoff.next(), stop.signal);
    }
    containers = new Map();
    settleReady();
  })();

  let closing: Promise<void> | undefined;
  return {
    containers: () => containers,
    status: () => status,
    ready: () => readyPromise,
    close() {
      closing ??= (async () => {
        options.signal?.removeEventListener('abort', onOuterAbort);
        stop.abort(new Error('inventory closed'));
        await loop;
      })();
      return closing;
    },
  };
}
