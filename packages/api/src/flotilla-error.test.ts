import { Metadata, type ServiceError, status } from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { Code } from './code.js';
import { FlotillaError, toGrpcStatus } from './flotilla-error.js';

function serviceError(code: status, details: string, metadata = new Metadata()): ServiceError {
  return Object.assign(new Error(`${code} ${status[code]}: ${details}`), { code, details, metadata });
}

describe('FlotillaError.from', () => {
  it('keeps a FlotillaError as it is', () => {
    const err = new FlotillaError(Code.Aborted, 'changed meanwhile: retry', { reason: 'conflict' });
    expect(FlotillaError.from(err)).toBe(err);
  });

  it('maps a gRPC error: its status, the server message and the reason trailer', () => {
    const metadata = new Metadata();
    metadata.set('flotilla-reason', 'bad-token');
    const cause = serviceError(status.PERMISSION_DENIED, 'bad-token: see flotilla join-token', metadata);
    const err = FlotillaError.from(cause);
    expect(err).toMatchObject({ code: Code.PermissionDenied, reason: 'bad-token', cause });
    expect(err.message).toBe('bad-token: see flotilla join-token');
    expect(FlotillaError.from(serviceError(status.UNAVAILABLE, ''))).toMatchObject({
      code: Code.Unavailable,
      message: '14 UNAVAILABLE: ',
      reason: undefined,
    });
    expect(FlotillaError.from(serviceError(status.OK, 'odd')).code).toBe(Code.Unknown);
  });

  it('wraps anything else with the fallback code, aborts as Canceled, timeouts as DeadlineExceeded', () => {
    const plain = new Error('boom');
    expect(FlotillaError.from(plain)).toMatchObject({ code: Code.Unknown, message: 'boom', cause: plain });
    expect(FlotillaError.from(plain, Code.Internal).code).toBe(Code.Internal);
    expect(FlotillaError.from('a string', Code.Unavailable)).toMatchObject({
      code: Code.Unavailable,
      message: 'a string',
    });
    expect(FlotillaError.from(new DOMException('stop', 'AbortError')).code).toBe(Code.Canceled);
    expect(FlotillaError.from(new DOMException('late', 'TimeoutError')).code).toBe(Code.DeadlineExceeded);
  });

  it('maps a Node system error by its errno name', () => {
    const system = (code: string, syscall: string) =>
      Object.assign(new Error(`${syscall} ${code}`), { code, syscall, errno: -1 });
    expect(FlotillaError.from(system('ENOENT', 'open'))).toMatchObject({ code: Code.NotFound, message: 'open ENOENT' });
    expect(FlotillaError.from(system('EADDRINUSE', 'listen')).code).toBe(Code.FailedPrecondition);
    expect(FlotillaError.from(system('ECONNREFUSED', 'connect')).code).toBe(Code.Unavailable);
    expect(FlotillaError.from(system('EWHATEVER', 'read'), Code.Internal).code).toBe(Code.Internal);
    // A library's string code is not an errno.
    expect(FlotillaError.from(Object.assign(new Error('x'), { code: 'ENOENT' })).code).toBe(Code.Unknown);
  });
});

describe('toGrpcStatus', () => {
  it('sends the code, the message and the reason of a FlotillaError', () => {
    const sent = toGrpcStatus(new FlotillaError(Code.NotFound, 'no node x: see flotilla node ls', { reason: 'gone' }));
    expect(sent.code).toBe(status.NOT_FOUND);
    expect(sent.details).toBe('no node x: see flotilla node ls');
    expect(sent.metadata.get('flotilla-reason')).toEqual(['gone']);
  });

  it('cuts a long message, so that the trailer carrying it stays small', () => {
    const sent = toGrpcStatus(new FlotillaError(Code.NotFound, `no service "${'x'.repeat(100_000)}"`));
    expect(sent.details).toHaveLength(4_096);
    expect(sent.details).toMatch(/^no service "x+…$/);
  });

  it('hides anything else as an internal error', () => {
    expect(toGrpcStatus(new Error('secret detail'))).toMatchObject({
      code: status.INTERNAL,
      details: 'internal error',
    });
    expect(toGrpcStatus('x', 'internal error while joining').details).toBe('internal error while joining');
  });

  it('round-trips every code through gRPC', () => {
    for (const code of Object.values(Code).filter((c): c is Code => typeof c === 'number')) {
      const sent = toGrpcStatus(new FlotillaError(code, 'm', { reason: 'r' }));
      expect(FlotillaError.from(serviceError(sent.code, sent.details, sent.metadata))).toMatchObject({
        code,
        message: 'm',
        reason: 'r',
      });
    }
  });
});
