import { readFileSync } from 'node:fs';
import { PeerServiceClient, type Voter } from '@flotilla/api';
import { CertificateAuthority, createKeyAndCsr } from '@flotilla/pki';
import { makeTestPki, tempDir } from '@flotilla/test-servers';
import { credentials, Metadata, status } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PeerCaller, type PeerCertificates } from './peer-service.js';
import { QuorumWatch, type SessionView } from './quorum-watch.js';

// Real PeerService servers on loopback, with node certificates from a cluster CA: who may ask, and whom to
// believe, is decided by the certificates alone.

/** A session as the quorum watch reads it: in touch until told to fall silent. */
class FakeSession implements SessionView {
  state = 'connected';
  /** Since when no manager has answered; undefined: one just did. */
  silentSince: number | undefined;
  /** When a manager was last heard again after a silence (the session's start). */
  connectedAt = Date.now();
  /** Times the quorum watch asked it to try the managers now. */
  reconnects = 0;
  selfFenceTimeoutMs = 2_000;
  heartbeatPeriodMs = 1_000;
  silentForMs(): number {
    return this.silentSince === undefined ? 0 : Date.now() - this.silentSince;
  }
  fallSilent(): void {
    this.state = 'connecting';
    this.silentSince = Date.now();
  }
  contact(): void {
    if (this.state !== 'connected') this.connectedAt = Date.now();
    this.state = 'connected';
    this.silentSince = undefined;
  }
  hearsLeader(): boolean {
    return this.state === 'connected' && this.silentForMs() <= 3 * this.heartbeatPeriodMs;
  }
  leaderHeardForMs(): number {
    return this.hearsLeader() ? Date.now() - this.connectedAt : 0;
  }
  reconnectNow(): void {
    this.reconnects++;
  }
}

async function nodeCertificates(ca: CertificateAuthority, nodeId: string): Promise<PeerCertificates> {
  const { keyPem, csrPem } = await createKeyAndCsr();
  // No address in the certificate: peers are checked by node ID (the subject's CN), not by address.
  const certPem = await ca.issue({ csrPem, nodeId, role: 'worker' });
  return { caCertPem: ca.certPem, certPem, keyPem };
}

interface TestNode {
  id: string;
  session: FakeSession;
  watch: QuorumWatch;
  certificates: PeerCertificates;
  address: string;
}

let ca: CertificateAuthority;
let dir: ReturnType<typeof tempDir>;
let otherCa: PeerCertificates;
const nodes: TestNode[] = [];
const stopped: { id: string; tasks: string[] }[] = [];

beforeAll(async () => {
  ({ ca } = await CertificateAuthority.create('cluster-peers'));
  dir = tempDir('peers');
  const pki = makeTestPki(dir.path);
  otherCa = {
    caCertPem: readFileSync(pki.caFile, 'utf8'),
    certPem: readFileSync(pki.serverCertFile, 'utf8'),
    keyPem: readFileSync(pki.serverKeyFile, 'utf8'),
  };
  for (const id of ['node1', 'node2', 'node3']) {
    const session = new FakeSession();
    const certificates = await nodeCertificates(ca, id);
    const watch = await QuorumWatch.start({
      certificates: { ...certificates, nodeId: id },
      listen: '127.0.0.1:0',
      session: () => session,
      worker: {
        disconnectPolicies: () => [{ id: `${id}-task`, disconnect: undefined }],
        fence: (ids) => void stopped.push({ id, tasks: [...(ids ?? [])] }),
      },
    });
    nodes.push({ id, session, watch, certificates, address: `127.0.0.1:${watch.probePort}` });
  }
  const voters: Voter[] = nodes.map((n) => ({ id: n.id, probeAddress: n.address, manager: false }));
  for (const n of nodes) n.watch.setVoters(voters);
});

afterAll(async () => {
  await Promise.all(nodes.map((n) => n.watch.close()));
  dir?.remove();
});

const node = (i: number) => nodes[i] as TestNode;

describe('the PeerService between nodes', () => {
  it('answers a caller with a certificate of the cluster CA: whether this node hears a leader', async () => {
    const caller = new PeerCaller(node(0).certificates);
    try {
      expect(await caller.call(node(1).address, 2_000, node(1).id)).toMatchObject({ hearsLeader: true });
      node(1).session.fallSilent();
      await new Promise((r) => setTimeout(r, 100));
      const silent = await caller.call(node(1).address, 2_000, node(1).id);
      // It says it hears no leader, and for how long it has not (the asking node compares with its own silence).
      expect(silent.hearsLeader).toBe(false);
      expect(silent.silentMs).toBeGreaterThanOrEqual(90);
    } finally {
      node(1).session.contact();
      caller.close();
    }
  });

  it('refuses a caller whose certificate comes from another CA', async () => {
    // It trusts the cluster CA, so the server is believed; the server does not believe it.
    const caller = new PeerCaller({ ...otherCa, caCertPem: ca.certPem });
    try {
      // Refused in the handshake, well before the deadline.
      await expect(caller.call(node(1).address, 2_000, node(1).id)).rejects.toMatchObject({ code: status.UNAVAILABLE });
    } finally {
      caller.close();
    }
  });

  it('refuses a caller of the cluster that is not a voter (a removed node), and answers the voters', async () => {
    const removed = new PeerCaller(await nodeCertificates(ca, 'node9'));
    const voter = new PeerCaller(node(0).certificates);
    try {
      await expect(removed.call(node(1).address, 2_000, node(1).id)).rejects.toMatchObject({
        code: status.PERMISSION_DENIED,
        details: expect.stringContaining('not a voter'),
      });
      expect(await voter.call(node(1).address, 2_000, node(1).id)).toMatchObject({ hearsLeader: true });
    } finally {
      removed.close();
      voter.close();
    }
  });

  it('does not believe a node of the cluster that answers for another voter', async () => {
    const caller = new PeerCaller(node(0).certificates);
    try {
      // node2 listens at that address, not node3: the certificate it shows names node2.
      await expect(caller.call(node(1).address, 2_000, node(2).id)).rejects.toMatchObject({
        code: status.UNAVAILABLE,
      });
      // Asked for the voter it is, the same address answers.
      expect(await caller.call(node(1).address, 2_000, node(1).id)).toMatchObject({ hearsLeader: true });
    } finally {
      caller.close();
    }
  });

  it('refuses a caller without a certificate', async () => {
    const client = new PeerServiceClient(
      node(1).address,
      credentials.createSsl(Buffer.from(ca.certPem), null, null, { checkServerIdentity: () => undefined }),
      { 'grpc.ssl_target_name_override': 'flotilla-peer' },
    );
    try {
      const call = new Promise<boolean>((resolve, reject) =>
        client.probe({}, new Metadata(), { deadline: Date.now() + 2_000 }, (err, response) =>
          err ? reject(err) : resolve(response.hearsLeader),
        ),
      );
      await expect(call).rejects.toMatchObject({ code: status.UNAVAILABLE });
    } finally {
      client.close();
    }
  });

  it('does not believe a server whose certificate comes from another CA', async () => {
    const rogue = await QuorumWatch.start({
      // It accepts the cluster's nodes as callers, but shows a certificate of another CA.
      certificates: { ...otherCa, caCertPem: ca.certPem, nodeId: 'rogue' },
      listen: '127.0.0.1:0',
      session: () => new FakeSession(),
      worker: { disconnectPolicies: () => [], fence: () => undefined },
    });
    const caller = new PeerCaller(node(0).certificates);
    try {
      await expect(caller.call(`127.0.0.1:${rogue.probePort}`, 2_000, 'rogue')).rejects.toMatchObject({
        code: status.UNAVAILABLE,
      });
    } finally {
      caller.close();
      await rogue.close();
    }
  });

  it('a node that hears no leader probes its peers: carries on when none hears one, fences when one does', async () => {
    const lost = node(0);
    // The only manager is gone: every node falls silent; each reaches the 2 others, 3 of 4 voters, no leader.
    for (const n of nodes) n.session.fallSilent();
    lost.watch.setVoters([
      ...nodes.map((n) => ({ id: n.id, probeAddress: n.address, manager: false })),
      { id: 'manager1', probeAddress: '', manager: true },
    ]);
    await expect.poll(() => lost.watch.fence.verdict, { timeout: 5_000, interval: 50 }).toBe('carry-on');
    expect(lost.watch.prober.probesSent).toBeGreaterThan(0);
    expect(stopped.filter((s) => s.id === lost.id)).toEqual([]);
    // One peer is back in a session with a leader this node does not reach (a manager came back, and this node
    // cannot reach it): this node is the one cut off. It tries the managers at once, and stops its task only once
    // that leader has been there for the self-fence timeout, not at once for its own minute of silence.
    const back = Date.now();
    node(1).session.contact();
    await expect.poll(() => lost.watch.fence.verdict, { timeout: 5_000, interval: 50 }).toBe('cut-off');
    expect(lost.session.reconnects).toBeGreaterThan(0);
    expect(stopped.filter((s) => s.id === lost.id)).toEqual([]);
    await expect
      .poll(() => stopped.filter((s) => s.id === lost.id), { timeout: 5_000, interval: 50 })
      .toEqual([{ id: lost.id, tasks: [`${lost.id}-task`] }]);
    expect(Date.now() - back).toBeGreaterThanOrEqual(2_000);
    // Contact again: the episode ends, and the probing stops.
    lost.session.contact();
    await expect.poll(() => lost.watch.fence.verdict, { timeout: 5_000, interval: 50 }).toBe('in-touch');
    const sent = lost.watch.prober.probesSent;
    await new Promise((r) => setTimeout(r, 1_200));
    expect(lost.watch.prober.probesSent).toBe(sent);
  });
});
