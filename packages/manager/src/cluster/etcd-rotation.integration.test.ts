import { readFileSync } from 'node:fs';
import path from 'node:path';
import { CertificateAuthority, caFingerprint, createKeyAndCsr, issuedBy, StateDir } from '@flotilla/pki';
import { CLUSTER_KEY, connectEtcd } from '@flotilla/store';
import { afterAll, describe, expect, it } from 'vitest';
import { EmbeddedManagers, type Spot } from '../../test/embedded-managers.js';
import { operatorClient, rpc } from '../../test/test-cluster.js';
import type { RunningManager } from '../manager.js';
import { ETCD_USER } from './etcd-certificates.js';

// A CA rotation on three managers that each run their own etcd member (real etcd processes on loopback, client
// and peer mutual TLS from the cluster CA): every member and every manager's etcd client moves to the new CA,
// one member restarting at a time, while the etcd cluster keeps its quorum and takes writes throughout.
const managers = new EmbeddedManagers('etcd-rotation');
const { dir, spot, start, stop } = managers;

afterAll(() => managers.close());

const etcdFile = (at: Spot, name: string) => readFileSync(path.join(at.stateDir, 'etcd', name), 'utf8');

/**
 * Writes through every manager's own etcd client (each reaches only its own member) every 50 ms, and notes what
 * each member's process is: what keeps running while the members restart in turn.
 */
class Writer {
  /** When a write went through, through any manager; and how many went through each manager. */
  readonly ok: number[] = [];
  readonly okBy = new Map<number, number>();
  readonly pids = new Map<number, Set<number>>();
  private stopped = false;
  private done: Promise<void> | undefined;

  constructor(private readonly managers: RunningManager[]) {}

  start(): void {
    // A loop per manager: a write waiting on a member that restarts holds up no other.
    this.done = Promise.all(
      this.managers.map(async (m, i) => {
        for (let n = 0; !this.stopped; n++) {
          await this.write(m, i, n);
          await new Promise((r) => setTimeout(r, 50));
        }
      }),
    ).then(() => undefined);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.done;
  }

  /** The longest time without any write going through, from the first write to the last. */
  longestGapMs(): number {
    const times = [...this.ok].sort((a, b) => a - b);
    return times.slice(1).reduce((gap, t, i) => Math.max(gap, t - (times[i] as number)), 0);
  }

  private async write(manager: RunningManager, i: number, n: number): Promise<void> {
    const pid = manager.embeddedEtcd?.process?.pid;
    if (pid) this.pids.set(i, (this.pids.get(i) ?? new Set()).add(pid));
    try {
      await manager.store.client.put(`/flotilla-test/writer/${i}`).value(String(n));
      this.ok.push(Date.now());
      this.okBy.set(i, (this.okBy.get(i) ?? 0) + 1);
    } catch {
      // Through a manager whose own member is restarting: the others' writes show whether the cluster took it.
    }
  }
}

describe('CA rotation with the managers’ own etcd members', () => {
  const spots: Spot[] = [];
  const managers: RunningManager[] = [];

  it('moves every member and etcd client to the new CA, one member at a time, taking writes throughout', async () => {
    spots.push(await spot('m1'), await spot('m2'), await spot('m3'));
    const first = await start(spots[0] as Spot);
    managers.push(first);
    const token = first.identity.tokens.manager;
    for (const s of spots.slice(1)) managers.push(await start(s, { manager: first.address, token }));
    await expect.poll(() => first.controlPlane.members().length, { timeout: 15_000 }).toBe(3);
    const oldRoot = first.identity.ca.certPem;
    const oldKey = first.identity.caKeyPem;
    const firstPids = managers.map((m) => m.embeddedEtcd?.process?.pid);

    const writer = new Writer(managers);
    writer.start();
    const control = operatorClient(first, first.address);
    let newRoot = '';
    try {
      const { rotation } = await rpc(control, control.rotateCa, { force: false });
      expect(rotation?.total).toBe(3); // the three managers, no nodes
      const fingerprint = rotation?.newFingerprint as string;
      // The rotation ends once every manager's member trusts both CAs; then each member starts again to trust the
      // new CA only.
      await expect
        .poll(async () => caFingerprint((await first.store.get('clusters', CLUSTER_KEY))?.value.caCertPem ?? ''), {
          timeout: 60_000,
          interval: 200,
        })
        .toBe(fingerprint);
      newRoot = (await first.store.get('clusters', CLUSTER_KEY))?.value.caCertPem as string;
      for (const at of spots)
        await expect.poll(() => etcdFile(at, 'ca.crt').trim(), { timeout: 10_000 }).toBe(newRoot.trim());
      // Each member started twice more (both CAs, then the new one), never by its supervisor after a crash.
      await expect
        .poll(() => managers.map((_, i) => writer.pids.get(i)?.size ?? 0), { timeout: 60_000, interval: 200 })
        .toEqual([3, 3, 3]);
      // Writes go through each manager again after the last restart (its client with its new certificate).
      const settled = managers.map((_, i) => writer.okBy.get(i) ?? 0);
      await expect
        .poll(() => managers.every((_, i) => (writer.okBy.get(i) ?? 0) > (settled[i] as number) + 2), {
          timeout: 10_000,
        })
        .toBe(true);
    } finally {
      control.close();
      await writer.stop();
    }
    for (const m of managers) expect(m.embeddedEtcd?.process?.restarts).toBe(0);
    expect(managers.map((m) => m.embeddedEtcd?.process?.pid)).not.toContain(firstPids[0]);
    // Quorum kept: a write went through at least every 2 s all along (a restart hands the etcd lead over first).
    expect(writer.longestGapMs()).toBeLessThan(2_000);

    // Every member's certificate (the manager's etcd client's too) chains to the new CA; the old one is trusted
    // no more.
    for (const at of spots) {
      expect(issuedBy(etcdFile(at, 'member.crt'), newRoot)).toBe(true);
      expect(etcdFile(at, 'ca.crt')).not.toContain(oldRoot.trim().split('\n')[1]);
    }
    const old = await CertificateAuthority.load(oldRoot, oldKey);
    const current = await CertificateAuthority.load(
      newRoot,
      readFileSync(path.join(spots[0]?.stateDir as string, 'ca.key'), 'utf8'),
    );
    for (const at of spots) {
      const url = `https://${at.client}`;
      // A certificate of the old CA, even one naming the managers' etcd user, is refused by every member...
      await expect(withClientCert(old, url, newRoot, (c) => c.get('/flotilla-test/x').string())).rejects.toThrow();
      // ...while one of the new CA is let in (so the refusal is the CA's doing).
      await withClientCert(current, url, newRoot, (c) => c.put('/flotilla-test/x').value('new').exec());
    }
  }, 180_000);

  it('a member started again after the rotation is accepted by its peers; the cluster takes writes', async () => {
    const [, second] = managers as [RunningManager, RunningManager, RunningManager];
    const at = spots[1] as Spot;
    await stop(second);
    const again = await start(at);
    managers[1] = again;
    // Its new certificate is of the new CA alone (no cross-signed link): the peers trust the new CA.
    const newRoot = again.identity.ca.certPem;
    expect(issuedBy(etcdFile(at, 'member.crt'), newRoot)).toBe(true);
    expect(etcdFile(at, 'member.crt').match(/BEGIN CERTIFICATE/g)).toHaveLength(1);
    for (const [i, m] of managers.entries()) await m.store.client.put(`/flotilla-test/after/${i}`).value('ok');
    const { members } = await again.store.client.cluster.memberList({});
    expect(members.filter((m) => !m.isLearner && m.name !== '')).toHaveLength(3);
    // Raft traffic to and from the restarted member: every member has its write.
    for (const m of managers) expect(await m.store.client.get('/flotilla-test/after/1').string()).toBe('ok');
    // Also a member killed outright and started again by its supervisor.
    const member = managers[2]?.embeddedEtcd?.process;
    process.kill(member?.pid as number, 'SIGKILL');
    await expect.poll(() => member?.restarts, { timeout: 20_000 }).toBe(1);
    await expect
      .poll(
        () =>
          (managers[2] as RunningManager).store.client
            .put('/flotilla-test/killed')
            .value('ok')
            .then(() => true),
        {
          timeout: 20_000,
        },
      )
      .toBe(true);
  }, 60_000);

  it('refuses a rotation while a member does not answer (it could never move), saying which and what to do', async () => {
    const [first, , third] = managers as [RunningManager, RunningManager, RunningManager];
    await stop(third);
    const control = operatorClient(first, first.address);
    try {
      await expect(rpc(control, control.rotateCa, { force: false })).rejects.toThrow(
        new RegExp(`etcd members of managers ${third.identity.nodeId} do not answer.*node demote`),
      );
      expect((await first.store.get('clusters', CLUSTER_KEY))?.value.caRotation).toBeUndefined();
      // The two members left hold the quorum: writes go on.
      await first.store.client.put('/flotilla-test/refused').value('ok').exec();
    } finally {
      control.close();
    }
  }, 60_000);
});

/** A client of one member with a certificate `ca` issues for the managers' etcd user, trusting `trustPem`. */
async function withClientCert<T>(
  ca: CertificateAuthority,
  url: string,
  trustPem: string,
  use: (client: ReturnType<typeof connectEtcd>) => Promise<T>,
): Promise<T> {
  const files = new StateDir(dir('client'));
  const { keyPem, csrPem } = await createKeyAndCsr();
  files.write('ca.crt', trustPem);
  files.write('client.key', keyPem, true);
  files.write('client.crt', await ca.issue({ csrPem, nodeId: ETCD_USER, role: 'manager' }));
  const client = connectEtcd({
    endpoints: [url],
    tls: { caFile: files.file('ca.crt'), certFile: files.file('client.crt'), keyFile: files.file('client.key') },
    callTimeoutMs: 2_000,
  });
  try {
    return await use(client);
  } finally {
    client.close();
  }
}
