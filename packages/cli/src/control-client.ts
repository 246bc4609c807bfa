import { existsSync } from 'node:fs';
import { isIPv4 } from 'node:net';
import path from 'node:path';
import { Code, ControlServiceClient, FlotillaError } from '@flotilla/api';
import { cliConfigDir, MANAGER_SERVER_NAME, StateDir } from '@flotilla/pki';
import { credentials, Metadata, type ServiceError, type StatusObject } from '@grpc/grpc-js';
import { renewOperatorForRotation, renewOperatorIfDue } from './operator-certificate.js';

/** A control API client with the operator credentials the first manager wrote ($FLOTILLA_CONFIG_DIR or ~/.flotilla). */
export function controlClient(configDir = cliConfigDir()): ControlServiceClient {
  if (!existsSync(path.join(configDir, 'operator.key')) || !existsSync(path.join(configDir, 'manager'))) {
    throw new FlotillaError(
      Code.FailedPrecondition,
      `no operator credentials in ${configDir}: run the CLI where a manager was started, or set FLOTILLA_CONFIG_DIR`,
    );
  }
  const dir = new StateDir(configDir);
  const tls = credentials.createSsl(
    Buffer.from(dir.read('ca.crt')),
    Buffer.from(dir.read('operator.key')),
    Buffer.from(dir.read('operator.crt')),
  );
  const known = dir.has('managers') ? dir.read('managers') : '';
  const client = new ControlServiceClient(managersTarget(dir.read('manager'), known), tls, {
    'grpc.ssl_target_name_override': MANAGER_SERVER_NAME,
    // A manager whose host died sends no reset: pings find out within seconds, and the channel moves on to the
    // next manager (reconnecting soon) instead of waiting for TCP to give up.
    'grpc.keepalive_time_ms': 5_000,
    'grpc.keepalive_timeout_ms': 5_000,
    'grpc.keepalive_permit_without_calls': 1,
    'grpc.max_reconnect_backoff_ms': 2_000,
  });
  // Past half its life, the operator certificate is renewed alongside the command's own call; the channel is
  // closed once both are done.
  const renewal = renewOperatorIfDue(client, dir);
  const close = client.close.bind(client);
  // A call that told of a CA rotation: the certificate is renewed (from the new CA) before the channel closes.
  client.close = () => {
    const renewing = renewal ?? (rotating.has(client) ? renewOperatorForRotation(client, dir) : undefined);
    if (renewing) void renewing.finally(close);
    else close();
  };
  return client;
}

function ipv4HostPort(address: string): boolean {
  const at = address.lastIndexOf(':');
  const port = Number(address.slice(at + 1));
  return at > 0 && isIPv4(address.slice(0, at)) && Number.isInteger(port) && port > 0 && port < 65_536;
}

/**
 * The gRPC target for the configured manager and the live managers its manager last listed: when they are all
 * IPv4 HOST:PORT, one `ipv4:` target with the configured one first, so the channel connects to the first that
 * answers (and to another when that one goes away); otherwise the configured manager alone.
 */
export function managersTarget(configured: string, listed: string): string {
  const first = configured.trim();
  const all = [first, ...listed.split('\n').map((l) => l.trim())].filter((a, i, list) => a && list.indexOf(a) === i);
  return all.length > 1 && all.every(ipv4HostPort) ? `ipv4:${all.join(',')}` : first;
}

type Unary<Req, Res> = (
  request: Req,
  metadata: Metadata,
  options: { deadline: number },
  callback: (err: ServiceError | null, response: Res) => void,
) => unknown;

/** Calls one control RPC with a deadline; a refusal becomes a FlotillaError carrying the manager's message. */
export function call<Req, Res>(client: ControlServiceClient, method: Unary<Req, Res>, request: Req): Promise<Res> {
  return new Promise((resolve, reject) => {
    const pending = method.call(client, request, new Metadata(), { deadline: Date.now() + 10_000 }, (err, response) => {
      if (err) reject(FlotillaError.from(err));
      else resolve(response);
    }) as { on?: (event: 'status', listener: (status: StatusObject) => void) => void } | undefined;
    pending?.on?.('status', (status) => {
      if (status.metadata?.get(CA_ROTATING_METADATA_KEY).length) rotating.add(client);
    });
  });
}

/** Trailing metadata a manager sends during a CA rotation. */
const CA_ROTATING_METADATA_KEY = 'flotilla-ca-rotating';

/** Clients whose calls told of a CA rotation. */
const rotating = new WeakSet<ControlServiceClient>();
