import { Code, FlotillaError } from '@flotilla/api';
import { Metadata, status } from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { isNotFound } from './client.js';
import { containerdFailure } from './containerd-failure.js';

const grpcError = (code: status, details: string) =>
  Object.assign(new Error(`${code} ${status[code]}: ${details}`), { code, details, metadata: new Metadata() });

describe('containerdFailure', () => {
  it('maps the gRPC status and leads with what was being done', () => {
    const err = containerdFailure(grpcError(status.NOT_FOUND, 'container "x": not found'), 'starting x');
    expect(err).toMatchObject({ code: Code.NotFound, message: 'starting x: container "x": not found' });
    expect(isNotFound(err)).toBe(true);
    expect(isNotFound(grpcError(status.NOT_FOUND, 'gone'))).toBe(true);
    expect(isNotFound(grpcError(status.ALREADY_EXISTS, 'there'))).toBe(false);
  });

  it('says how the agent finds containerd when it is unreachable', () => {
    const err = containerdFailure(grpcError(status.UNAVAILABLE, 'connect ENOENT /run/containerd.sock'));
    expect(err.code).toBe(Code.Unavailable);
    expect(err.message).toContain('--containerd-socket');
  });

  it('keeps a FlotillaError, and calls anything else internal', () => {
    const own = new FlotillaError(Code.InvalidArgument, 'bad layer');
    expect(containerdFailure(own, 'unpacking')).toBe(own);
    expect(containerdFailure(new Error('odd')).code).toBe(Code.Internal);
  });
});
