import { existsSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import path from 'node:path';
import { Code, FlotillaError, formatHostPort, type HostPort } from '@flotilla/api';
import type { Logger } from '@flotilla/observability';
import { type CertificateAuthority, StateDir } from '@flotilla/pki';
import { connectEtcd, EtcdMembers, type EtcdOptions } from '@flotilla/store';
import type { Etcd3 } from 'etcd3';
import { ETCD_SERVER_NAME, ETCD_USER, type EtcdTlsFiles, issueEtcdCertificate } from './etcd-certificates.js';
import { EtcdMember, httpsUrl } from './etcd-member.js';
import { addLearner, memberClientUrls, promoteLearner, removeManagerMember } from './etcd-membership.js';

/** How often the list of members the store tries is read again. */
const MEMBER_LIST_MS = 5_000;

export interface EmbeddedEtcdOptions {
  /** The manager's state directory: the member keeps its data and TLS files in `etcd/` there. */
  stateDir: string;
  /** Where the member serves clients, and the address it gives them (--etcd-listen-client). */
  client: HostPort;
  /** Where the member talks to the other members (--etcd-listen-peer). */
  peer: HostPort;
  /** Debian's etcd-server. */
  binary: string;
  log: Logger;
}

/** How this manager came by its identity: it made the cluster now, joined it now, or loaded it from disk. */
export type ManagerStart =
  | { kind: 'new' }
  /** With the client URLs of the members the manager it joined through named. */
  | { kind: 'join'; etcdClientUrls: string[] }
  | { kind: 'restart' };

/** What the member needs of the manager's identity: the CA (to issue its certificate) and who it is. */
export interface MemberIdentity {
  ca: CertificateAuthority;
  nodeId: string;
  start: ManagerStart;
}

/**
 * The etcd member a manager brings when it is started without --etcd: the first manager's member makes a new
 * etcd cluster, a joining manager's is added to the existing one (as a learner, then promoted), and a restarted
 * manager's starts from its data directory. Returns how the manager's store connects: to its own member, with
 * the member's client certificate.
 */
export class EmbeddedEtcd {
  private readonly dirPath: string;
  private readonly dataDir: string;
  private member: EtcdMember | undefined;
  /** The data directory was made by this start (a new cluster or a join): a failed start removes it. */
  private madeData = false;
  /** The member's name and client TLS files, once started (leave() needs them). */
  private joined: { name: string; tls: EtcdTlsFiles } | undefined;
  /** The members the store tries, and what keeps the list current (see followMembers). */
  private members: EtcdMembers | undefined;
  private listing: Etcd3 | undefined;
  private following: NodeJS.Timeout | undefined;

  constructor(private readonly options: EmbeddedEtcdOptions) {
    // Made when the member starts, not here: a manager (or a restore) that fails earlier leaves no trace of it.
    this.dirPath = path.join(options.stateDir, 'etcd');
    this.dataDir = path.join(this.dirPath, 'data');
  }

  get clientUrl(): string {
    return httpsUrl(this.options.client);
  }

  /** The member's TLS files (also the manager's etcd client's). */
  get tls(): EtcdTlsFiles {
    const file = (name: string) => path.join(this.dirPath, name);
    return { certFile: file('member.crt'), keyFile: file('member.key'), caFile: file('ca.crt') };
  }

  /** The running member, for tests and metrics: its PID and how often it was started again. */
  get process(): EtcdMember | undefined {
    return this.member;
  }

  async start(identity: MemberIdentity): Promise<EtcdOptions> {
    const { ca, nodeId, start } = identity;
    this.checkDataDir(start);
    await portFree(this.options.client, '--etcd-listen-client');
    await portFree(this.options.peer, '--etcd-listen-peer');
    const { client, peer } = this.options;
    const tls = await this.issue(ca);
    const peerUrl = httpsUrl(peer);
    this.madeData = start.kind !== 'restart';
    const member = (initialCluster: string, state: 'new' | 'existing') =>
      new EtcdMember(
        {
          name: nodeId,
          dataDir: this.dataDir,
          client,
          peer,
          tls,
          initialCluster,
          initialClusterState: state,
          clusterToken: ca.clusterId,
          binary: this.options.binary,
        },
        this.options.log,
      );
    if (start.kind === 'join') {
      await this.join(start.etcdClientUrls, tls, nodeId, peerUrl, member);
    } else {
      this.member = member(`${nodeId}=${peerUrl}`, 'new');
      await this.member.start();
      if (start.kind === 'new') await this.authenticate(tls);
    }
    this.joined = { name: nodeId, tls };
    // This member first (it runs beside the manager and forwards to the raft leader), then the others, kept
    // current: when this member dies, hangs or cannot be reached, the store goes on through another.
    const members = new EtcdMembers([this.clientUrl, ...(start.kind === 'join' ? start.etcdClientUrls : [])]);
    this.followMembers(members, tls);
    return { endpoints: [this.clientUrl], tls, members, serverName: ETCD_SERVER_NAME };
  }

  /** The members' client URLs the store tries, in order (this member's first). */
  get memberUrls(): string[] {
    return this.members?.current ?? [];
  }

  /**
   * Keeps the list of members current from the members' own list (any member answers it, even without a
   * quorum), at once and then every few seconds: members join and leave as managers do.
   */
  private followMembers(members: EtcdMembers, tls: EtcdTlsFiles): void {
    this.members = members;
    const client = connectEtcd({ endpoints: [], members, serverName: ETCD_SERVER_NAME, tls, callTimeoutMs: 2_000 });
    this.listing = client;
    const refresh = async () => {
      try {
        const urls = await memberClientUrls(client);
        members.set([this.clientUrl, ...urls]);
      } catch {
        // No member answers now: the list stays as it was, and is asked for again at the next round.
      }
    };
    void refresh();
    clearInterval(this.following);
    this.following = setInterval(() => void refresh(), MEMBER_LIST_MS);
    this.following.unref();
  }

  /**
   * A certificate for the member from what `ca` issues now, and the CAs it trusts now, in its files: used from the
   * member's next connection on (etcd reads its certificate at each), and by the manager's etcd client from its
   * next connection. The CAs the running member trusts are the ones it read at its start (see restart).
   */
  issue(ca: CertificateAuthority): Promise<EtcdTlsFiles> {
    const { client, peer } = this.options;
    return issueEtcdCertificate(ca, [client.host, peer.host], new StateDir(this.dirPath));
  }

  /** Replaces the CAs the member trusts in its file (read when it starts). */
  trust(trustPem: string): void {
    new StateDir(this.dirPath).replace('ca.crt', trustPem);
  }

  /** Stops the running member and starts it again on the same data: it reads the CAs it trusts anew. */
  async restart(): Promise<void> {
    const member = this.member;
    if (!member) throw new FlotillaError(Code.FailedPrecondition, 'the etcd member is not running');
    await member.stop();
    await member.start();
  }

  /** Stops the member; after a failed first start, also removes the data that start made. */
  async stop(options: { discard?: boolean } = {}): Promise<void> {
    clearInterval(this.following);
    this.following = undefined;
    this.listing?.close();
    this.listing = undefined;
    await this.member?.stop();
    this.member = undefined;
    if (options.discard && this.madeData) rmSync(this.dataDir, { recursive: true, force: true });
  }

  /**
   * Takes this member out of the etcd cluster, through the other members (they decide it; this one would stop
   * answering halfway), while it still runs: with two members, the one left could not make the change alone. A
   * demoted manager does this before it stops. False when there was nothing to remove.
   */
  async leave(): Promise<boolean> {
    if (!this.joined) return false;
    const { name, tls } = this.joined;
    const own = connectEtcd({ endpoints: [this.clientUrl], tls });
    let others: string[];
    try {
      others = (await memberClientUrls(own)).filter((url) => url !== this.clientUrl);
    } finally {
      own.close();
    }
    if (others.length === 0) return false;
    const client = connectEtcd({ endpoints: others, tls });
    try {
      for (const deadline = Date.now() + 30_000; ; ) {
        try {
          return await removeManagerMember(client, name);
        } catch (err) {
          // etcd takes out no voter until its leader has heard every member for a while (one that just joined).
          const again = /unhealthy cluster|not enough started members|unavailable|deadline/i.test(
            (err as Error).message,
          );
          if (!again || Date.now() > deadline) throw err;
          await new Promise((r) => setTimeout(r, 500));
        }
      }
    } finally {
      client.close();
    }
  }

  /**
   * A new etcd cluster's authentication: the managers' user (their certificates' CN) with the root role, then
   * authentication on, so etcd takes only certificates of that name (no password: none is ever used).
   */
  private async authenticate(tls: EtcdTlsFiles): Promise<void> {
    const client = connectEtcd({ endpoints: [this.clientUrl], tls });
    try {
      for (const deadline = Date.now() + 20_000; ; ) {
        try {
          await client.auth.userAdd({ name: ETCD_USER, options: { no_password: true } });
          break;
        } catch (err) {
          // A member that has just started elects itself first.
          if (Date.now() > deadline) throw err;
          await new Promise((r) => setTimeout(r, 100));
        }
      }
      await client.auth.roleAdd({ name: 'root' });
      await client.auth.userGrantRole({ user: ETCD_USER, role: 'root' });
      await client.auth.authEnable();
    } finally {
      client.close();
    }
  }

  private checkDataDir(start: ManagerStart): void {
    const populated = existsSync(path.join(this.dataDir, 'member'));
    if (start.kind === 'restart' && !populated) {
      throw new FlotillaError(
        Code.FailedPrecondition,
        `${this.dataDir} holds no etcd data: this manager ran on an external etcd; start it with --etcd URL (and --etcd-cacert, --etcd-cert, --etcd-key) as before`,
      );
    }
    if (start.kind !== 'restart' && populated) {
      throw new FlotillaError(
        Code.FailedPrecondition,
        `${this.dataDir} holds etcd data but ${this.options.stateDir} no cluster: remove ${this.dataDir} (or use another --state-dir)`,
      );
    }
  }

  /**
   * Adds this member to the running etcd cluster through the members the joined manager named, with a client
   * certificate this manager issued itself, then starts it and makes it a voter. A member that cannot start is
   * taken out again (a learner does not count towards the quorum, so the cluster went on without it meanwhile).
   */
  private async join(
    urls: string[],
    tls: EtcdTlsFiles,
    nodeId: string,
    peerUrl: string,
    member: (initialCluster: string, state: 'existing') => EtcdMember,
  ): Promise<void> {
    if (urls.length === 0) {
      throw new FlotillaError(
        Code.FailedPrecondition,
        "the cluster's managers use an external etcd: start this manager with --etcd URL and --etcd-cacert, --etcd-cert, --etcd-key as the others",
      );
    }
    const existing = connectEtcd({ endpoints: urls, tls });
    let id: string | undefined;
    try {
      const added = await addLearner(existing, nodeId, peerUrl);
      id = added.id;
      this.member = member(added.initialCluster, 'existing');
      await this.member.start();
      await promoteLearner(existing, added.id);
      this.options.log.info({ member: nodeId, peer: peerUrl }, 'joined the etcd cluster');
    } catch (err) {
      await this.stop({ discard: true });
      if (id) await existing.cluster.memberRemove({ ID: id }).catch(() => undefined);
      throw err;
    } finally {
      existing.close();
    }
  }
}

/** Fails with the flag to change when `address` cannot be listened on (in use, or not this host's). */
function portFree(address: HostPort, flag: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', (err: NodeJS.ErrnoException) => {
      const why =
        err.code === 'EADDRINUSE'
          ? 'the port is in use'
          : err.code === 'EADDRNOTAVAIL'
            ? 'no interface of this host has that address'
            : (err.code ?? err.message);
      reject(
        new FlotillaError(
          Code.InvalidArgument,
          `${flag} ${formatHostPort(address)}: ${why}; give another HOST:PORT with ${flag}`,
        ),
      );
    });
    server.listen({ host: address.host, port: address.port, exclusive: true }, () => server.close(() => resolve()));
  });
}
