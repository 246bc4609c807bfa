import { X509Certificate } from 'node:crypto';
import { Writable } from 'node:stream';
import { Code, FlotillaError } from '@flotilla/api';
import { createLogger, type Logger } from '@flotilla/observability';
import { CertificateAuthority, createKeyAndCsr } from '@flotilla/pki';
import type { ServerUnaryCall, ServiceError } from '@grpc/grpc-js';
import { status } from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { handler } from './handler.js';

/** A unary call as grpc-js hands it over, from a holder of a certificate of `role`. */
async function callFrom(
  ca: CertificateAuthority,
  role: 'operator' | 'worker',
): Promise<ServerUnaryCall<object, object>> {
  const certPem = await ca.issue({ csrPem: (await createKeyAndCsr()).csrPem, nodeId: 'caller1', role });
  const raw = new X509Certificate(certPem).raw;
  return {
    request: {},
    getAuthContext: () => ({ sslPeerCertificate: { raw } }),
    getPath: () => '/flotilla.v1.ControlService/ScaleService',
  } as unknown as ServerUnaryCall<object, object>;
}

function run(
  handle: ReturnType<typeof handler>,
  fn: () => Promise<object>,
  call: ServerUnaryCall<object, object>,
): Promise<Partial<ServiceError>> {
  return new Promise((resolve) => handle(fn)(call, (err) => resolve((err ?? {}) as Partial<ServiceError>)));
}

function capture(): { logger: Logger; lines: () => Promise<Array<Record<string, unknown>>> } {
  const out: Array<Record<string, unknown>> = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n').filter(Boolean)) out.push(JSON.parse(line));
      done();
    },
  });
  const logger = createLogger('test', { level: 'info', destination });
  // The stream takes what pino wrote on a later turn.
  return { logger, lines: () => new Promise((resolve) => setImmediate(() => resolve(out))) };
}

describe('control API handler', () => {
  it('logs a bug (an error that is no FlotillaError) in full, and tells the caller only "internal error"', async () => {
    const { ca } = await CertificateAuthority.create('cluster-h1');
    const { logger, lines } = capture();
    const err = await run(
      handler(ca, logger),
      async () => {
        throw new TypeError('cannot read properties of undefined (/srv/flotilla/secret-path.ts:12)');
      },
      await callFrom(ca, 'operator'),
    );
    expect(err.code).toBe(status.INTERNAL);
    expect(err.details).toBe('internal error');
    const logged = await lines();
    expect(logged).toHaveLength(1);
    expect(logged[0]?.msg).toBe('control call failed');
    expect(logged[0]?.method).toBe('/flotilla.v1.ControlService/ScaleService');
    expect(JSON.stringify(logged[0]?.err)).toContain('cannot read properties of undefined');
  });

  it('does not log refusals the caller is told about (workers, invalid requests)', async () => {
    const { ca } = await CertificateAuthority.create('cluster-h2');
    const { logger, lines } = capture();
    const handle = handler(ca, logger);
    const refused = await run(
      handle,
      async () => {
        throw new FlotillaError(Code.InvalidArgument, 'replicas must be at most 1000000');
      },
      await callFrom(ca, 'operator'),
    );
    expect(refused.code).toBe(status.INVALID_ARGUMENT);
    expect(refused.details).toBe('replicas must be at most 1000000');
    const worker = await run(handle, async () => ({}), await callFrom(ca, 'worker'));
    expect(worker.code).toBe(status.PERMISSION_DENIED);
    expect(await lines()).toHaveLength(0);
  });
});
