import { readFileSync } from 'node:fs';
import { Channel, type ChannelCredentials, type ClientOptions, credentials } from '@grpc/grpc-js';

/** An etcd client's TLS files: the CAs it trusts, and its own certificate and key (mutual TLS). */
export interface TlsFiles {
  caFile: string;
  certFile?: string;
  keyFile?: string;
}

/**
 * gRPC credentials that follow their files: each channel the etcd client opens (at the start, and again after a
 * connection failed) reads them, so certificates and trusted CAs replaced on disk (a CA rotation, a renewal) are
 * used from the next connection on, without a new client whose watches and leases would start over. The same
 * contents give the same credentials object, so the client's channels keep sharing their connections.
 */
export class TlsFileCredentials {
  private contents = '';
  private current: ChannelCredentials;

  constructor(private readonly files: TlsFiles) {
    this.current = this.read() as ChannelCredentials;
  }

  /** The credentials for the files as they are now; the last good ones while the files are half replaced. */
  now(): ChannelCredentials {
    try {
      return this.read() ?? this.current;
    } catch {
      // A certificate replaced but not yet its key (two renames): the next connection reads the pair again.
      return this.current;
    }
  }

  /** grpc-js client options that make each channel with the credentials of the moment. */
  channelOptions(): Pick<ClientOptions, 'channelFactoryOverride'> {
    return {
      channelFactoryOverride: (address, _given, options) => new Channel(address, this.now(), options),
    };
  }

  /** New credentials when the files changed since the last read, else undefined. */
  private read(): ChannelCredentials | undefined {
    const { caFile, certFile, keyFile } = this.files;
    const ca = readFileSync(caFile);
    const key = keyFile ? readFileSync(keyFile) : undefined;
    const cert = certFile ? readFileSync(certFile) : undefined;
    const contents = [ca, key, cert].map((b) => b?.toString('base64') ?? '').join('|');
    if (contents === this.contents) return undefined;
    // createSsl checks that the key and certificate match: a mismatched pair throws before anything is kept.
    const made = credentials.createSsl(ca, key ?? null, cert ?? null);
    this.contents = contents;
    this.current = made;
    return made;
  }
}
