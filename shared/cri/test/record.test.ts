import { describe, expect, it } from 'vitest';
import { createCriClient, describeCriFailure, formatCriState, parseHostNamespaceFlags, parseStatusPid } from '../src/index.js';

describe('CRI record parsing', () => {
  it('reads the pid from the verbose info JSON (containerd and CRI-O both use "info")', () => {
    expect(parseStatusPid({ info: '{"sandboxID":"abc","pid":4242,"removing":false}' })).toBe(4242);
    // CRI-O's shape, written from its source (server/container_status.go, containerInfo: sandboxID, pid,
    // runtimeSpec, privileged), not captured: no CRI-O can run here.
    expect(parseStatusPid({ info: '{"sandboxID":"def","pid":777,"runtimeSpec":{"ociVersion":"1.0.2"},"privileged":false}' })).toBe(777);
    expect(parseStatusPid({ info: '{"pid":0}' })).toBe(0);
    expect(parseStatusPid({ info: 'not json' })).toBe(0);
    expect(parseStatusPid({})).toBe(0);
  });

  it('flags NODE namespaces only', () => {
    expect(parseHostNamespaceFlags({ network: 'NODE', pid: 'CONTAINER', ipc: 'NODE' })).toEqual({ network: true, pid: false, ipc: true });
    expect(parseHostNamespaceFlags(undefined)).toEqual({ network: false, pid: false, ipc: false });
  });

  it('names container states', () => {
    expect(['CONTAINER_CREATED', 'CONTAINER_RUNNING', 'CONTAINER_EXITED', 'CONTAINER_UNKNOWN', 'X'].map(formatCriState)).toEqual(['created', 'running', 'exited', 'unknown', 'unknown']);
  });

  it('explains a missing socket with the fix (a real call on a real, absent socket)', async () => {
    const client = createCriClient({ endpoint: 'unix:///tmp/scope-cri-missing/containerd.sock', timeoutMs: 2000 });
    const error = await client.version().catch((e: unknown) => e);
    client.close();
    expect(describeCriFailure(error, 'unix:///tmp/scope-cri-missing/containerd.sock')).toEqual({
      code: 'ENOENT',
      reason: 'no socket at unix:///tmp/scope-cri-missing/containerd.sock: is the runtime running, and is its socket mounted into this container?',
    });
  });
});
