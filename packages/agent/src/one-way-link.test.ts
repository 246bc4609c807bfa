import {
  type Assignments,
  DispatcherServiceService,
  type SessionRequest,
  type SessionResponse,
  Task,
  TaskState,
} from '@flotilla/api';
import { CertificateAuthority, createKeyAndCsr, MANAGER_SERVER_NAME } from '@flotilla/pki';
import { Server, ServerCredentials, type ServerDuplexStream } from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';
import { AgentSession, UNACKED_PERIODS } from './session.js';

// A one-way partition: the manager's messages still reach the node, the node's heartbeats no longer reach the
// manager. The leader then marks the node down after its grace and replaces its tasks elsewhere; the node must not
// take those messages as contact (it would never fence) nor start a task one of them brings (it would run twice).
// The manager here is this test's own peer of the session protocol, speaking it over mutual TLS.

const PERIOD_MS = 200;

interface Peer {
  server: Server;
  address: string;
  /** Streams opened so far, and whether the peer acknowledges heartbeats on them. */
  streams: ServerDuplexStream<SessionRequest, SessionResponse>[];
  acks: boolean;
}

const closing: (() => void)[] = [];
afterEach(() => {
  for (const close of closing.splice(0)) close();
});

async function issue(ca: CertificateAuthority, nodeId: string, role: 'manager' | 'worker') {
  const { keyPem, csrPem } = await createKeyAndCsr();
  const certPem = await ca.issue({
    csrPem,
    nodeId,
    role,
    ...(role === 'manager' ? { dnsNames: [MANAGER_SERVER_NAME], ipAddresses: ['127.0.0.1'] } : {}),
  });
  return { keyPem, certPem };
}

async function startPeer(ca: CertificateAuthority): Promise<Peer> {
  const own = await issue(ca, 'm1', 'manager');
  const server = new Server();
  const peer: Peer = { server, address: '', streams: [], acks: true };
  server.addService(DispatcherServiceService, {
    session: (call: ServerDuplexStream<SessionRequest, SessionResponse>) => {
      peer.streams.push(call);
      const sessionId = `s${peer.streams.length}`;
      call.on('data', (m: SessionRequest) => {
        if (m.heartbeat && peer.acks) call.write({ heartbeatAck: { sentAtMs: m.heartbeat.sentAtMs } });
      });
      call.on('error', () => {});
      call.write({ session: sessionInfo(peer, sessionId) });
    },
  });
  const creds = ServerCredentials.createSsl(
    Buffer.from(ca.certPem),
    [{ private_key: Buffer.from(own.keyPem), cert_chain: Buffer.from(own.certPem) }],
    true,
  );
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', creds, (err, p) => (err ? reject(err) : resolve(p))),
  );
  peer.address = `127.0.0.1:${port}`;
  closing.push(() => server.forceShutdown());
  return peer;
}

function assignment(id: string): Assignments {
  return {
    full: false,
    tasks: [Task.fromPartial({ id, nodeId: 'n1', desiredState: TaskState.TASK_STATE_RUNNING })],
    removedTaskIds: [],
    files: [],
  };
}

async function connected(ca: CertificateAuthority, peer: Peer) {
  const node = await issue(ca, 'n1', 'worker');
  const applied: string[] = [];
  const session = new AgentSession(
    { nodeId: 'n1', role: 'worker', ...node, caCertPem: ca.certPem, managers: [peer.address] },
    { backoffMs: { first: 5_000, max: 5_000 }, onAssignments: (a) => applied.push(...a.tasks.map((t) => t.id)) },
  );
  closing.push(() => session.stop());
  session.start();
  await expect.poll(() => session.state, { timeout: 10_000 }).toBe('connected');
  return { session, applied };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('a session whose heartbeats go unanswered (one-way partition)', () => {
  it('takes tasks while its heartbeats are acknowledged', async () => {
    const { ca } = await CertificateAuthority.create('one-way-1');
    const peer = await startPeer(ca);
    const { session, applied } = await connected(ca, peer);
    await sleep(PERIOD_MS * (UNACKED_PERIODS + 2));
    peer.streams[0]?.write({ assignments: assignment('t1') });
    await expect.poll(() => applied).toEqual(['t1']);
    expect(session.silentForMs()).toBeLessThan(PERIOD_MS * 2);
    expect(session.hearsLeader()).toBe(true);
  });

  it('is not kept alive by the manager talking, and starts nothing it hears once unacknowledged', async () => {
    const { ca } = await CertificateAuthority.create('one-way-2');
    const peer = await startPeer(ca);
    const { session, applied } = await connected(ca, peer);
    peer.acks = false;
    const stream = peer.streams[0] as ServerDuplexStream<SessionRequest, SessionResponse>;
    // The manager keeps talking (a session info again, every period) but hears nothing back.
    const talk = setInterval(() => stream.write({ session: sessionInfo(peer, 's1') }), PERIOD_MS / 2);
    closing.push(() => clearInterval(talk));
    await sleep(PERIOD_MS * (UNACKED_PERIODS + 0.5));
    // Silence counts from the last acknowledgement, whatever came since.
    expect(session.silentForMs()).toBeGreaterThan(PERIOD_MS * UNACKED_PERIODS);
    // The leader, which stopped hearing this node, places a task here: it is not started.
    stream.write({ assignments: assignment('late') });
    await sleep(PERIOD_MS * 1.5);
    expect(applied).toEqual([]);
    expect(session.hearsLeader()).toBe(false);
    // Dropped by the watchdog, and what it held with it: acknowledgements on that stream would change nothing now.
    expect(session.state).not.toBe('connected');
    peer.acks = true;
    await sleep(PERIOD_MS * 2);
    expect(applied).toEqual([]);
  });

  it('applies what it held back once a heartbeat is acknowledged again (a manager that fell behind)', async () => {
    const { ca } = await CertificateAuthority.create('one-way-3');
    const peer = await startPeer(ca);
    const { session, applied } = await connected(ca, peer);
    peer.acks = false;
    const stream = peer.streams[0] as ServerDuplexStream<SessionRequest, SessionResponse>;
    await sleep(PERIOD_MS * (UNACKED_PERIODS + 0.3));
    stream.write({ assignments: assignment('a') });
    stream.write({ assignments: assignment('b') });
    await sleep(PERIOD_MS / 4);
    expect(applied).toEqual([]);
    // The manager catches up: its acknowledgement comes after the assignments it had held, as a writer behind does.
    peer.acks = true;
    stream.write({ heartbeatAck: { sentAtMs: BigInt(Date.now()) } });
    await expect.poll(() => applied, { timeout: PERIOD_MS * 3 }).toEqual(['a', 'b']);
    expect(session.state).toBe('connected');
  });
});

/** A session's info, as a manager sends it when the session opens and again when its list of managers changes. */
function sessionInfo(peer: Peer, sessionId: string): SessionResponse['session'] {
  return {
    sessionId,
    heartbeatPeriodMs: BigInt(PERIOD_MS),
    managers: [peer.address],
    selfFenceTimeoutMs: BigInt(PERIOD_MS * 10),
    voters: [],
    certExpiryMs: 0n,
    caIssuerPem: '',
    caTrustPem: '',
  };
}
