import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { connect } from 'node:net';
import { Code, FlotillaError, type HostPort } from '@flotilla/api';
import type { Logger } from '@flotilla/observability';

/** How one etcd member runs: its name, where its data is, where it listens, and its TLS files. */
export interface EtcdMemberConfig {
  /** The member's name: the manager's node ID (how a member is found to remove it). */
  name: string;
  dataDir: string;
  client: HostPort;
  peer: HostPort;
  /** The member's certificate (server, peer and client) and key, and the cluster CA it trusts. */
  tls: { certFile: string; keyFile: string; caFile: string };
  /** First start only (etcd ignores both once its data directory holds a member). */
  initialCluster: string;
  initialClusterState: 'new' | 'existing';
  /** Keeps members of different clusters from joining each other by mistake. */
  clusterToken: string;
  binary: string;
}

export const httpsUrl = ({ host, port }: HostPort) => `https://${host.includes(':') ? `[${host}]` : host}:${port}`;

/**
 * etcd's command line: mutual TLS for clients and peers, each side accepting only certificates of the cluster CA.
 * Logs (warnings and errors) go to stderr, where the supervisor keeps their tail.
 */
export function etcdArgs(config: EtcdMemberConfig): string[] {
  const client = httpsUrl(config.client);
  const peer = httpsUrl(config.peer);
  const { certFile, keyFile, caFile } = config.tls;
  return [
    ...['--name', config.name, '--data-dir', config.dataDir],
    ...['--listen-client-urls', client, '--advertise-client-urls', client],
    ...['--listen-peer-urls', peer, '--initial-advertise-peer-urls', peer],
    ...['--initial-cluster', config.initialCluster, '--initial-cluster-state', config.initialClusterState],
    ...['--initial-cluster-token', config.clusterToken],
    ...['--cert-file', certFile, '--key-file', keyFile, '--trusted-ca-file', caFile, '--client-cert-auth'],
    ...['--peer-cert-file', certFile, '--peer-key-file', keyFile, '--peer-trusted-ca-file', caFile],
    '--peer-client-cert-auth',
    ...['--logger', 'zap', '--log-outputs', 'stderr', '--log-level', 'warn'],
  ];
}

const SETPRIV = '/usr/bin/setpriv';
const MAX_BACKOFF_MS = 10_000;
/** A member that ran this long before it died starts again at once (not after a grown backoff). */
const STABLE_MS = 30_000;

/**
 * An etcd member run as a child of the manager and supervised: restarted (with a growing delay) when it dies,
 * stopped with the manager. It dies with the manager too when the manager crashes: it is started through
 * util-linux's setpriv with a parent-death signal (SIGKILL), so a killed manager leaves no etcd behind.
 */
export class EtcdMember {
  private child: ChildProcess | undefined;
  private stopping = false;
  /** Set once the first start answered: from then on, a death is followed by a restart. */
  private supervising = false;
  private tail: string[] = [];
  private backoffMs = 500;
  private restartTimer: NodeJS.Timeout | undefined;
  private exited: Promise<void> = Promise.resolve();
  /** How many times the supervisor started the member again after it died. */
  restarts = 0;

  constructor(
    private readonly config: EtcdMemberConfig,
    private readonly log: Logger,
  ) {}

  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** Starts the member; resolves once its client port answers, rejects (with etcd's last words) if it exits. */
  async start(timeoutMs = 30_000): Promise<void> {
    if (!existsSync(this.config.binary)) {
      throw new FlotillaError(
        Code.FailedPrecondition,
        `${this.config.binary} is missing: install Debian's etcd-server (apt-get install etcd-server), or give an external etcd with --etcd`,
      );
    }
    this.stopping = false;
    this.supervising = false;
    this.spawn();
    await this.ready(timeoutMs);
    this.supervising = true;
  }

  /** Stops the member (SIGTERM, SIGKILL after `graceMs`) and its supervision. */
  async stop(graceMs = 10_000): Promise<void> {
    this.stopping = true;
    clearTimeout(this.restartTimer);
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(timer);
  }

  private spawn(): void {
    const args = etcdArgs(this.config);
    // Without setpriv (not Debian?) the member still runs, but a crashed manager would leave it behind: said.
    const [command, argv] = existsSync(SETPRIV)
      ? [SETPRIV, ['--pdeathsig', 'KILL', '--', this.config.binary, ...args]]
      : [this.config.binary, args];
    if (command === this.config.binary) this.log.warn(`${SETPRIV} is missing: etcd would outlive a crashed manager`);
    const child = spawn(command, argv, { stdio: ['ignore', 'ignore', 'pipe'] });
    this.child = child;
    this.tail = [];
    const startedAt = Date.now();
    child.stderr?.setEncoding('utf8').on('data', (text: string) => this.keep(text));
    this.exited = new Promise((resolve) =>
      child.once('exit', (code, signal) => {
        resolve();
        if (this.supervising && !this.stopping && this.child === child)
          this.restartLater(code, signal, Date.now() - startedAt);
      }),
    );
    // A spawn failure (EACCES, say) also ends in 'exit' or in this error, which the exit path reports.
    child.once('error', (err) => this.keep(`spawn failed: ${err.message}\n`));
  }

  private keep(text: string): void {
    this.tail.push(...text.split('\n').filter(Boolean));
    if (this.tail.length > 20) this.tail.splice(0, this.tail.length - 20);
  }

  private restartLater(code: number | null, signal: NodeJS.Signals | null, ranMs: number): void {
    if (ranMs > STABLE_MS) this.backoffMs = 500;
    const delay = this.backoffMs;
    this.backoffMs = Math.min(this.backoffMs * 2, MAX_BACKOFF_MS);
    this.log.warn(
      { code, signal, ranMs, restartInMs: delay, etcd: this.lastWords() },
      'the etcd member exited: starting it again',
    );
    this.restartTimer = setTimeout(() => {
      if (this.stopping) return;
      this.restarts++;
      this.spawn();
    }, delay);
  }

  /** The tail of etcd's log, for errors: etcd logs no secrets (the keys are files it reads). */
  lastWords(): string {
    return this.tail.slice(-5).join('\n');
  }

  private async ready(timeoutMs: number): Promise<void> {
    const child = this.child as ChildProcess;
    const deadline = Date.now() + timeoutMs;
    const { host, port } = this.config.client;
    for (;;) {
      if (child.exitCode !== null || child.signalCode !== null) {
        throw new FlotillaError(
          Code.FailedPrecondition,
          `etcd exited at start (${child.exitCode ?? child.signalCode}): ${this.lastWords() || 'no output'}`,
        );
      }
      if (await answers(host, port)) return;
      if (Date.now() > deadline) {
        await this.stop();
        throw new FlotillaError(
          Code.DeadlineExceeded,
          `etcd did not answer on ${host}:${port} within ${timeoutMs / 1000} s: ${this.lastWords() || 'no output'}`,
        );
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

function answers(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}
