import { X509Certificate } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { afterAll, describe, expect, it } from 'vitest';
import { CertificateAuthority } from './certificate-authority.js';
import { createKeyAndCsr } from './csr.js';
import type { NodeIdentity } from './node-identity.js';

// A real gRPC server and client over loopback with certificates from the cluster CA: the server learns who is
// calling from the client's certificate alone.
const servers: grpc.Server[] = [];
afterAll(() => {
  for (const s of servers) s.forceShutdown();
});

const whoAmI = {
  path: '/test.Identity/WhoAmI',
  requestStream: false,
  responseStream: false,
  requestSerialize: (v: Buffer) => v,
  requestDeserialize: (v: Buffer) => v,
  responseSerialize: (v: Buffer) => v,
  responseDeserialize: (v: Buffer) => v,
};

async function node(ca: CertificateAuthority, nodeId: string, role: NodeIdentity['role']) {
  const { keyPem, csrPem } = await createKeyAndCsr();
  const certPem = await ca.issue({ csrPem, nodeId, role, ipAddresses: ['127.0.0.1'] });
  return { keyPem, certPem };
}

describe('mutual TLS with cluster certificates', () => {
  it('identifies the caller by its certificate and refuses a caller from another CA', async () => {
    const { ca } = await CertificateAuthority.create('cluster-mtls');
    const manager = await node(ca, 'manager1', 'manager');
    const server = new grpc.Server();
    servers.push(server);
    server.addService({ WhoAmI: whoAmI } as grpc.ServiceDefinition, {
      WhoAmI: (call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) => {
        const cert = call.getAuthContext().sslPeerCertificate;
        try {
          if (!cert?.raw) throw new Error('no client certificate');
          const identity = ca.verify(new X509Certificate(cert.raw));
          callback(null, Buffer.from(JSON.stringify(identity)));
        } catch (err) {
          callback({ code: grpc.status.PERMISSION_DENIED, message: String(err) });
        }
      },
    });
    const credentials = grpc.ServerCredentials.createSsl(
      Buffer.from(ca.certPem),
      [{ private_key: Buffer.from(manager.keyPem), cert_chain: Buffer.from(manager.certPem) }],
      true,
    );
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', credentials, (err, p) => (err ? reject(err) : resolve(p))),
    );
    const Client = grpc.makeGenericClientConstructor({ WhoAmI: whoAmI }, 'Identity');
    const call = (c: grpc.Client) =>
      new Promise<string>((resolve, reject) =>
        (c as unknown as Record<string, (r: Buffer, cb: (e: Error | null, v?: Buffer) => void) => void>).WhoAmI?.(
          Buffer.alloc(0),
          (err, value) => (err ? reject(err) : resolve(value?.toString() ?? '')),
        ),
      );

    const worker = await node(ca, 'worker7', 'worker');
    const good = new Client(
      `127.0.0.1:${port}`,
      grpc.credentials.createSsl(Buffer.from(ca.certPem), Buffer.from(worker.keyPem), Buffer.from(worker.certPem)),
    );
    expect(JSON.parse(await call(good))).toEqual({ nodeId: 'worker7', role: 'worker', clusterId: 'cluster-mtls' });
    good.close();

    const { ca: rogue } = await CertificateAuthority.create('cluster-mtls');
    const impostor = await node(rogue, 'worker7', 'worker');
    const bad = new Client(
      `127.0.0.1:${port}`,
      grpc.credentials.createSsl(Buffer.from(ca.certPem), Buffer.from(impostor.keyPem), Buffer.from(impostor.certPem)),
    );
    await expect(call(bad)).rejects.toThrow();
    bad.close();
  });
});
