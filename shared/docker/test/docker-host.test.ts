import { describe, expect, it } from 'vitest';
import { optionEnv, optionFlag, resolveOptionValues } from '@scope-plugins/core';
import { createDockerClient, dockerHostOption, dockerOptions, formatDockerEndpoint, parseDockerHost } from '../src/index.js';

describe('parseDockerHost', () => {
  it.each([
    ['unix:///var/run/docker.sock', { kind: 'unix', socketPath: '/var/run/docker.sock' }],
    ['/run/podman/podman.sock', { kind: 'unix', socketPath: '/run/podman/podman.sock' }],
    ['tcp://127.0.0.1:2375', { kind: 'tcp', host: '127.0.0.1', port: 2375 }],
    ['tcp://docker.local', { kind: 'tcp', host: 'docker.local', port: 2375 }],
    ['http://[::1]:2380', { kind: 'tcp', host: '::1', port: 2380 }],
  ])('parses %s', (text, expected) => {
    expect(parseDockerHost(text)).toEqual(expected);
  });

  it.each(['', '   ', 'unix://relative.sock', 'docker.sock', 'https://h:2376', 'ssh://user@h', 'tcp://', 'tcp://h:2375/path', 'npipe:////./pipe/docker_engine'])(
    'refuses %j with a TypeError naming it',
    (text) => {
      expect(() => parseDockerHost(text)).toThrow(TypeError);
      if (text.trim() !== '') expect(() => parseDockerHost(text)).toThrow(JSON.stringify(text));
    },
  );

  it('formats endpoints back for log lines', () => {
    expect(formatDockerEndpoint(parseDockerHost('/x.sock'))).toBe('unix:///x.sock');
    expect(formatDockerEndpoint(parseDockerHost('http://[::1]:2380'))).toBe('tcp://[::1]:2380');
  });
});

describe('dockerHostOption', () => {
  it('is the process-wide --docker-host flag read from SCOPE_DOCKER_HOST, then DOCKER_HOST, defaulting to the standard socket', () => {
    expect({ flags: optionFlag('any', 'dockerHost', dockerHostOption, 'suite'), env: [optionEnv('any', 'dockerHost', dockerHostOption), ...dockerHostOption.env], default: dockerHostOption.default }).toEqual({
      flags: '--docker-host',
      env: ['SCOPE_DOCKER_HOST', 'DOCKER_HOST'],
      default: 'unix:///var/run/docker.sock',
    });
    expect(resolveOptionValues('any', dockerOptions, { dockerHost: 'tcp://127.0.0.1:2375' }).dockerHost).toBe('tcp://127.0.0.1:2375');
    expect(() => resolveOptionValues('any', dockerOptions, { dockerHost: 'ftp://x' })).toThrow(TypeError);
    expect(() => resolveOptionValues('any', dockerOptions, { dockerResyncMs: '0' })).toThrow(new TypeError('any: --docker-resync-ms (env SCOPE_DOCKER_RESYNC_MS) must be an integer of at least 1000 (ms), got "0"'));
  });
});

/** The docker-modem fields the client is built from (not in its type declarations). */
type Modem = { socketPath?: string; host?: string; port?: number };

describe('createDockerClient', () => {
  it('connects where it is told, whatever DOCKER_HOST says', () => {
    const saved = process.env['DOCKER_HOST'];
    process.env['DOCKER_HOST'] = 'tcp://10.9.9.9:2375';
    try {
      const unix = createDockerClient({ dockerHost: 'unix:///tmp/some.sock' }).modem as unknown as Modem;
      expect({ socketPath: unix.socketPath, host: unix.host }).toEqual({ socketPath: '/tmp/some.sock', host: undefined });
      const tcp = createDockerClient({ dockerHost: 'tcp://127.0.0.1:2399' }).modem as unknown as Modem;
      expect({ socketPath: tcp.socketPath, host: tcp.host, port: tcp.port }).toEqual({ socketPath: undefined, host: '127.0.0.1', port: 2399 });
    } finally {
      if (saved === undefined) delete process.env['DOCKER_HOST'];
      else process.env['DOCKER_HOST'] = saved;
    }
    expect(() => createDockerClient({ dockerHost: 'bogus' })).toThrow(TypeError);
  });
});
