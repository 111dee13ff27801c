import { describe, expect, it } from 'vitest';
import { describeRuntimeSelection, parseContainerRuntime, selectContainerRuntime } from '../src/index.js';

const only = (...paths: string[]) => (path: string) => paths.includes(path);

describe('selectContainerRuntime', () => {
  it('auto: Docker when its socket exists, even if a CRI socket exists too (Docker-only nodes unchanged)', () => {
    expect(selectContainerRuntime({ exists: only('/var/run/docker.sock', '/run/containerd/containerd.sock') })).toEqual({
      kind: 'docker',
      dockerHost: 'unix:///var/run/docker.sock',
      found: 'Docker socket /var/run/docker.sock exists',
    });
  });

  it('auto: containerd, then CRI-O, when Docker\'s socket is absent, saying what was looked at', () => {
    expect(selectContainerRuntime({ exists: only('/run/containerd/containerd.sock', '/var/run/crio/crio.sock') })).toEqual({
      kind: 'cri',
      runtime: 'containerd',
      endpoint: 'unix:///run/containerd/containerd.sock',
      found: 'no Docker socket at /var/run/docker.sock; containerd socket /run/containerd/containerd.sock exists',
      detected: true,
    });
    expect(selectContainerRuntime({ exists: only('/var/run/crio/crio.sock') })).toEqual({
      kind: 'cri',
      runtime: 'cri-o',
      endpoint: 'unix:///var/run/crio/crio.sock',
      found: 'no Docker socket at /var/run/docker.sock, no containerd socket at /run/containerd/containerd.sock; cri-o socket /var/run/crio/crio.sock exists',
      detected: true,
    });
  });

  it('auto with nothing found: Docker, which keeps retrying as before', () => {
    expect(selectContainerRuntime({ exists: only() })).toMatchObject({ kind: 'docker', found: expect.stringMatching(/no cri-o socket at \/var\/run\/crio\/crio.sock: waiting for Docker$/) });
  });

  it('auto with an endpoint given, and the explicit choices', () => {
    expect(selectContainerRuntime({ endpoint: 'unix:///k/containerd.sock', exists: only('/var/run/docker.sock') })).toMatchObject({ kind: 'cri', runtime: 'containerd', endpoint: 'unix:///k/containerd.sock' });
    expect(selectContainerRuntime({ runtime: 'cri-o', exists: only('/var/run/docker.sock') })).toMatchObject({ kind: 'cri', runtime: 'cri-o', endpoint: 'unix:///var/run/crio/crio.sock' });
    expect(selectContainerRuntime({ runtime: 'docker', dockerHost: 'tcp://127.0.0.1:2375', exists: only() })).toMatchObject({ kind: 'docker', dockerHost: 'tcp://127.0.0.1:2375' });
    expect(selectContainerRuntime({ dockerHost: 'tcp://127.0.0.1:2375', exists: only('/run/containerd/containerd.sock') })).toMatchObject({ kind: 'docker' });
  });

  it('says in its one log line what was chosen and why, and that CRI-O was never run against a real CRI-O', () => {
    expect(describeRuntimeSelection(selectContainerRuntime({ exists: only('/var/run/docker.sock') }))).toBe('container runtime: docker (Docker socket /var/run/docker.sock exists)');
    const containerd = describeRuntimeSelection(selectContainerRuntime({ runtime: 'containerd' }));
    expect(containerd).toBe('container runtime: containerd through CRI (--container-runtime containerd)');
    const crio = describeRuntimeSelection(selectContainerRuntime({ exists: only('/var/run/crio/crio.sock') }));
    expect(crio).toMatch(/^container runtime: cri-o through CRI \(no Docker socket .*cri-o socket \/var\/run\/crio\/crio.sock exists\); CRI-O .* never against a running CRI-O/);
  });

  it('refuses unknown runtimes and endpoints that are not UNIX sockets, naming the value', () => {
    expect(() => parseContainerRuntime('rkt')).toThrow(/--container-runtime must be one of auto, docker, containerd, cri-o, got "rkt"/);
    expect(() => selectContainerRuntime({ endpoint: 'tcp://10.0.0.1:1234' })).toThrow(/unix:\/\/\/path\/to\/socket.*"tcp:\/\/10.0.0.1:1234"/);
  });
});
