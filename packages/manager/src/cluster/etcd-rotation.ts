import type { Logger } from '@flotilla/observability';
import { type CertificateAuthority, caFingerprint } from '@flotilla/pki';
import { connectEtcd, type TlsFiles } from '@flotilla/store';
import type { Etcd3, IMember } from 'etcd3';
import type { EmbeddedEtcd } from './embedded-etcd.js';

/**
 * Whose turn it is to restart an etcd member (a leased key, so a manager that dies holding it frees it within the
 * lease), and which members trust both CAs of a rotation (each member's name, the manager's node ID, under it, with
 * the new CA's fingerprint). Outside Flotilla's keys: a backup never carries them.
 */
const TURN_KEY = '/flotilla-etcd/restart-turn';
const TRUSTS_BOTH = '/flotilla-etcd/trusts-both/';
const TURN_TTL_SECONDS = 60;

export interface EtcdRotationOptions {
  etcd: EmbeddedEtcd;
  /** The manager's etcd client (its own member's). */
  client: Etcd3;
  /** The member's name: the manager's node ID. */
  nodeId: string;
  log: Logger;
  /** How long a restarted member has to serve a quorum read again. */
  readyMs?: number;
}

/**
 * A manager's own etcd member through a CA rotation. etcd reads its certificate at each new connection but the
 * CAs it trusts only when it starts, and (written in Go) it does not take the cross-signed link that nodes and
 * managers use: Go counts a self-issued CA against the old root's path length of 0. So the members move in
 * steps, each member starting again in its turn, only while the others hold a quorum without it:
 *  1. the rotation starts: every member's CA file names both CAs, and each member starts again to read it;
 *  2. once every member trusts both, each takes a certificate of the new CA (read at its next connection, no
 *     restart), and so does the manager's etcd client (see TlsFileCredentials): only then does the manager count
 *     as renewed, so the rotation cannot end before;
 *  3. the rotation ended: the CA file names the new CA only, and each member starts again to read it.
 */
export class EtcdRotation {
  /** The member's CA file says other than what the running member read at its start. */
  private restartDue = false;
  /** During a rotation (step 2 to come): the CA to issue the member's certificate with, and its fingerprint. */
  private switchTo: { ca: CertificateAuthority; fingerprint: string } | undefined;
  /** The CAs to trust once the member holds its certificate of the new CA (a rotation ended before it did). */
  private trustAfterSwitch: string | undefined;

  constructor(private readonly options: EtcdRotationOptions) {}

  /** The rotation starts: trust in both CAs (once the member starts again), the certificate of the old one. */
  begin(ca: CertificateAuthority): void {
    this.trustAfterSwitch = undefined;
    this.options.etcd.trust(ca.trustPem);
    this.restartDue = true;
    this.switchTo = { ca, fingerprint: caFingerprint(ca.issuerPem) };
  }

  /** The rotation ended: trust in the new CA only, once the member starts again. */
  end(ca: CertificateAuthority): void {
    // Ended (with --force) before this member took its certificate of the new CA: the steps go on (the old CA
    // stays trusted by etcd until then), or members that still trust only the old CA would refuse it.
    if (this.switchTo) {
      this.trustAfterSwitch = ca.trustPem;
      return;
    }
    this.options.etcd.trust(ca.trustPem);
    this.restartDue = true;
  }

  /** Whether the member (and the manager's etcd client) hold what the rotation asks of them now. */
  get settled(): boolean {
    return !this.restartDue && !this.switchTo;
  }

  /**
   * One try at the next step due: true once the member trusts what its file says and, during a rotation, holds a
   * certificate of the new CA. False (try later) while another member restarts, the others would not hold a
   * quorum without this one, or some member does not trust both CAs yet.
   */
  async settle(): Promise<boolean> {
    if (this.restartDue && !(await this.restartInTurn())) return false;
    const switchTo = this.switchTo;
    if (!switchTo) return true;
    if (!(await this.everyMemberTrustsBoth(switchTo.fingerprint))) return false;
    await this.options.etcd.issue(switchTo.ca);
    this.switchTo = undefined;
    this.options.log.info({ member: this.options.nodeId }, 'the etcd member holds a certificate of the new CA');
    if (this.trustAfterSwitch === undefined) return true;
    this.options.etcd.trust(this.trustAfterSwitch);
    this.trustAfterSwitch = undefined;
    this.restartDue = true;
    return false;
  }

  private async restartInTurn(): Promise<boolean> {
    const { client, log, nodeId } = this.options;
    const turn = client.lock(TURN_KEY).ttl(TURN_TTL_SECONDS);
    try {
      await turn.acquire();
    } catch {
      return false; // another member is starting again
    }
    try {
      const others = await this.healthyOthers();
      if (!others) return false;
      await this.handOverLeadership(others);
      log.info({ member: nodeId }, 'starting the etcd member again to trust the CAs of its file');
      await this.options.etcd.restart();
      await this.ready();
      this.restartDue = false;
      const mark = `${TRUSTS_BOTH}${nodeId}`;
      if (this.switchTo) await client.put(mark).value(this.switchTo.fingerprint).exec();
      else await client.delete().key(mark).exec();
      log.info({ member: nodeId }, 'the etcd member trusts the CAs of its file');
      return true;
    } finally {
      await turn.release().catch(() => undefined); // else the lease frees the turn
    }
  }

  /** Whether every voting member has started again trusting both CAs of the rotation to `fingerprint`. */
  private async everyMemberTrustsBoth(fingerprint: string): Promise<boolean> {
    const { client } = this.options;
    const { members } = await client.cluster.memberList({});
    const marks = await client.getAll().prefix(TRUSTS_BOTH).strings();
    return members
      .filter((m) => !m.isLearner && m.name !== '')
      .every((m) => marks[`${TRUSTS_BOTH}${m.name}`] === fingerprint);
  }

  /**
   * The other voting members that answer, when they hold a quorum without this one (or are all there is: with one
   * or two members, a restart always pauses writes for its length); undefined when this member must wait.
   */
  private async healthyOthers(): Promise<IMember[] | undefined> {
    const { client, nodeId, log } = this.options;
    const { voters, answering } = await votersAnswering(client, this.options.etcd.tls);
    const others = voters.filter((m) => m.name !== nodeId);
    const healthy = answering.filter((m) => m.name !== nodeId);
    const quorum = Math.floor(voters.length / 2) + 1;
    if (healthy.length >= quorum || healthy.length === others.length) return healthy;
    log.warn(
      { answering: healthy.length, voters: voters.length },
      'the etcd member waits to start again: without it the answering members would not hold a quorum',
    );
    return undefined;
  }

  /** A member that leads hands the lead to another first: no election while it restarts. */
  private async handOverLeadership(others: IMember[]): Promise<void> {
    const target = others[0];
    if (!target) return;
    const { client, log } = this.options;
    try {
      const status = await client.maintenance.status();
      if (status.leader !== status.header.member_id) return;
      await client.maintenance.moveLeader({ targetID: target.ID });
    } catch (err) {
      // Not needed for safety: the others elect a leader among themselves within an election timeout.
      log.warn({ err: (err as Error).message }, 'etcd leadership not handed over before the restart');
    }
  }

  /** Until the member serves a quorum read (it has caught up with the leader), with the files as they are now. */
  private async ready(): Promise<void> {
    const deadline = Date.now() + (this.options.readyMs ?? 30_000);
    const probe = connectEtcd({ endpoints: [this.options.etcd.clientUrl], tls: this.options.etcd.tls });
    try {
      for (;;) {
        try {
          await probe.get(TURN_KEY).exec();
          return;
        } catch (err) {
          if (Date.now() > deadline) throw err;
          await new Promise((r) => setTimeout(r, 100));
        }
      }
    } finally {
      probe.close();
    }
  }
}

/** The names of the voting etcd members (the managers' node IDs) that do not answer now. */
export async function silentEtcdMembers(client: Etcd3, tls: TlsFiles): Promise<string[]> {
  const { voters, answering } = await votersAnswering(client, tls);
  return voters.filter((m) => !answering.includes(m)).map((m) => m.name);
}

/** The voting members that have started, and those of them that answer a status call within 2 s. */
async function votersAnswering(client: Etcd3, tls: TlsFiles): Promise<{ voters: IMember[]; answering: IMember[] }> {
  const { members } = await client.cluster.memberList({});
  const voters = members.filter((m) => !m.isLearner && m.name !== '');
  const answers = await Promise.all(voters.map((m) => answersAt(m.clientURLs, tls)));
  return { voters, answering: voters.filter((_, i) => answers[i]) };
}

async function answersAt(urls: string[], tls: TlsFiles): Promise<boolean> {
  const probe = connectEtcd({ endpoints: urls, tls, callTimeoutMs: 2_000 });
  try {
    await probe.maintenance.status();
    return true;
  } catch {
    return false;
  } finally {
    probe.close();
  }
}
