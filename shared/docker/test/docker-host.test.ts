import { describe, expect, it } from 'vitest';
import { optionEnv, optionFlag, resolveOptionValues } from '@scope-plugins/core';
import { dockerHostOption, dockerOptions, formatDockerEndpoint, parseDockerHost } from '../src/index.js';

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
