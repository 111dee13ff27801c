import { connect } from 'node:net';
import { describe, expect, it } from 'vitest';
import { describeDockerFailure } from '../src/index.js';

function connectError(path: string): Promise<Error> {
  return new Promise((resolve) => {
    const socket = connect(path);
    socket.on('error', (error) => resolve(error));
    socket.on('connect', () => {
      socket.destroy();
      resolve(new Error('unexpectedly connected'));
    });
  });
}

describe('describeDockerFailure', () => {
  it('classifies a missing socket from a real connect error', async () => {
    const failure = describeDockerFailure(await connectError('/tmp/does-not-exist-scope.sock'), 'unix:///tmp/does-not-exist-scope.sock');
    expect(failure.code).toBe('socket-missing');
    expect(failure.reason).toMatch(/does not exist.*docker\.sock/);
  });

  it.each([
    ['EACCES', 'permission-denied', /permission denied.*group/],
    ['ECONNREFUSED', 'refused', /not running/],
    ['ECONNRESET', 'reset', /stopped or restarted/],
    ['ETIMEDOUT', 'timeout', /did not answer/],
  ])('classifies %s', (code, expected, reason) => {
    const failure = describeDockerFailure(Object.assign(new Error(`connect ${code} /x.sock`), { code }), 'unix:///x.sock');
    expect(failure.code).toBe(expected);
    expect(failure.reason).toMatch(reason);
  });

  it('finds the code in a cause and reports HTTP answers', () => {
    expect(describeDockerFailure(new Error('wrapped', { cause: Object.assign(new Error('x'), { code: 'EACCES' }) }), 'e').code).toBe('permission-denied');
    expect(describeDockerFailure(Object.assign(new Error('(HTTP code 500) server error'), { statusCode: 500 }), 'e')).toEqual({
      code: 'http-500',
      reason: 'Docker at e answered HTTP 500: (HTTP code 500) server error',
    });
  });
});
