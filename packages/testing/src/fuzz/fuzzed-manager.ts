import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { MANAGER_SERVER_NAME } from '@flotilla/pki';
import { startEtcd, type TestServer, tempDir } from '@flotilla/test-servers';
import {
  Client,
  type ClientDuplexStream,
  type ClientReadableStream,
  credentials,
  Metadata,
  type ServiceError,
  status,
} from '@grpc/grpc-js';
import { type DaemonProcess, startDaemon } from '../daemon-process.js';

/** The built CLI (packages/testing/{src,dist}/fuzz → the repository's node_modules/.bin). */
const BIN = path.resolve(import.meta.dirname, '../../../../node_modules/.bin/flotilla');

/** How a raw call ended: a status from the server, a stream the server kept open, or nothing in time. */
export type CallOutcome =
  | { kind: 'status'; code: status; details: string; ms: number }
  | { kind: 'open'; ms: number }
  | { kind: 'hang'; ms: number };

const identity = (b: Buffer) => b;
/** How long a stream the server answered is watched for a late refusal before it counts as taken. */
const OPEN_GRACE_MS = 300;

/**
 * A manager process of the built `flotilla` on a fresh etcd, fuzzed over gRPC with raw bytes (so that the client
 * serializes nothing and any byte string reaches the server), as an operator or as a joined node.
 */
export class FuzzedManager {
  private constructor(
    readonly etcd: TestServer,
    readonly daemon: DaemonProcess,
    readonly address: string,
    private readonly configDir: string,
    private readonly dirs: { remove(): void }[],
  ) {}

  static async start(): Promise<FuzzedManager> {
    const etcd = await startEtcd();
    const state = tempDir('fuzz-manager');
    const config = tempDir('fuzz-cli');
    const daemon = startDaemon(
      BIN,
      ['manager', 'start', '--etcd', etcd.url, '--listen', '127.0.0.1:0', '--state-dir', state.path],
      { env: { ...process.env, FLOTILLA_CONFIG_DIR: config.path, LOG_LEVEL: 'warn' } },
    );
    try {
      const [, address] = await daemon.waitFor(/listening on (127\.0\.0\.1:\d+)/, 60_000);
      return new FuzzedManager(etcd, daemon, address as string, config.path, [state, config]);
    } catch (err) {
      await daemon.stop();
      await etcd.destroy();
      throw err;
    }
  }

  /** Whether the manager process is still running. */
  alive(): boolean {
    return this.daemon.child.exitCode === null && this.daemon.child.signalCode === null;
  }

  /** A raw client with the operator certificate the manager wrote for the CLI. */
  operatorClient(): Client {
    const read = (name: string) => readFileSync(path.join(this.configDir, name));
    return this.client(read('ca.crt'), read('operator.key'), read('operator.crt'));
  }

  /** A raw client with a node's credentials (from joinCluster). */
  client(ca: Buffer, key: Buffer, cert: Buffer): Client {
    return new Client(this.address, credentials.createSsl(ca, key, cert), {
      'grpc.ssl_target_name_override': MANAGER_SERVER_NAME,
      'grpc.max_send_message_length': 64 * 1024 * 1024,
    });
  }

  /** The worker join token, from the CLI as an operator gets it. */
  async workerToken(): Promise<string> {
    const { stdout } = await promisify(execFile)(BIN, ['join-token', 'worker', '-q'], {
      env: { ...process.env, FLOTILLA_CONFIG_DIR: this.configDir },
    });
    return stdout.trim();
  }

  async stop(): Promise<void> {
    await this.daemon.stop();
    await this.etcd.destroy();
    for (const d of this.dirs) d.remove();
  }
}

/** One unary call with `bytes` as the request; a hang is the client's deadline passing with no answer. */
export function unaryCall(client: Client, method: string, bytes: Uint8Array, deadlineMs: number): Promise<CallOutcome> {
  const started = Date.now();
  return new Promise((resolve) => {
    client.makeUnaryRequest(
      method,
      identity,
      identity,
      Buffer.from(bytes),
      new Metadata(),
      { deadline: started + deadlineMs },
      (err: ServiceError | null) => {
        const ms = Date.now() - started;
        if (err?.code === status.DEADLINE_EXCEEDED && ms >= deadlineMs) resolve({ kind: 'hang', ms });
        else resolve({ kind: 'status', code: err?.code ?? status.OK, details: err?.details ?? '', ms });
      },
    );
  });
}

/**
 * One server-streaming call: it ends with a status, or is still open at the deadline (a follow such as Events
 * stays open by design; the server took the request) and is cancelled. A hang: open with nothing sent at all.
 */
export function streamCall(
  client: Client,
  method: string,
  bytes: Uint8Array,
  deadlineMs: number,
): Promise<CallOutcome> {
  const started = Date.now();
  const call = client.makeServerStreamRequest(method, identity, identity, Buffer.from(bytes), new Metadata(), {});
  return settleStream(call, started, deadlineMs);
}

/** Settles a streaming call as streamCall does; for bidirectional calls the caller writes and ends it. */
export function settleStream(
  call: ClientReadableStream<Buffer> | ClientDuplexStream<Buffer, Buffer>,
  started: number,
  deadlineMs: number,
): Promise<CallOutcome> {
  let heard = false;
  return new Promise((resolve) => {
    let timer: NodeJS.Timeout;
    const giveUp = () => {
      call.cancel();
      resolve({ kind: heard ? 'open' : 'hang', ms: Date.now() - started });
    };
    timer = setTimeout(giveUp, deadlineMs);
    // Once the server has answered, a stream it keeps open has been taken; a short while more lets a refusal in.
    const answered = () => {
      if (heard) return;
      heard = true;
      clearTimeout(timer);
      timer = setTimeout(giveUp, Math.min(OPEN_GRACE_MS, Math.max(0, started + deadlineMs - Date.now())));
    };
    call.on('data', answered);
    call.on('metadata', answered);
    call.on('error', () => undefined);
    call.on('status', (s) => {
      clearTimeout(timer);
      resolve({ kind: 'status', code: s.code, details: s.details, ms: Date.now() - started });
    });
  });
}

/** A bidirectional call that sends `messages` (raw) and, unless `keepOpen`, half-closes. */
export function bidiCall(client: Client, method: string): ClientDuplexStream<Buffer, Buffer> {
  return client.makeBidiStreamRequest(method, identity, identity, new Metadata(), {});
}

/**
 * What is wrong with a status a fuzzed call ended with, if anything: an internal error (a handler threw what it
 * did not mean to), or details that show the server's insides (a stack, source paths).
 */
export function statusProblem(outcome: CallOutcome): string | undefined {
  if (outcome.kind !== 'status') return undefined;
  if (/\n\s+at |\.(ts|js):\d+|node_modules|\/src\//.test(outcome.details)) {
    return `status ${status[outcome.code]} leaks internals: ${outcome.details.slice(0, 200)}`;
  }
  const transport =
    /^(Error deserializing request|Received message larger than max|Request message serialization failure)/;
  if ((outcome.code === status.INTERNAL || outcome.code === status.UNKNOWN) && !transport.test(outcome.details)) {
    return `internal error from the handler: ${status[outcome.code]} ${outcome.details.slice(0, 200)}`;
  }
  return undefined;
}
