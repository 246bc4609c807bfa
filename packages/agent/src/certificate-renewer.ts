import { X509Certificate } from 'node:crypto';
import type { Logger } from '@flotilla/observability';
import { type CertificateLife, certificateLife, createKeyAndCsr, readIdentity, renewalTime } from '@flotilla/pki';
import type { NodeCertificates } from './node-certificates.js';

export interface CertificateRenewerOptions {
  certificates: NodeCertificates;
  /** Asks for a certificate for the key behind this CSR (over mutual TLS, or from the CA a manager holds). */
  renew(csrPem: string): Promise<string>;
  /** Keeps the new pair where a restart finds it (written whole: temp file and rename, the key 0600). */
  save(certPem: string, keyPem: string): void;
  /** Told after each renewal (events, tests). */
  onRenewed?: (certPem: string) => void;
  logger?: Pick<Logger, 'info' | 'warn'>;
  /** Retry after a failure: from the first delay, doubling to the cap. */
  backoffMs?: { first: number; max: number };
  random?: () => number;
  now?: () => number;
}

/**
 * Renews a certificate before it expires: at a random point between 50 % and 80 % of its life it makes a new key
 * (which never leaves this process) and a CSR, asks for a certificate, checks that it names the same identity,
 * saves the pair and hands it to every TLS credential made from `certificates`. A failure is logged and tried
 * again with backoff; nothing else stops (tasks, sessions).
 */
export class CertificateRenewer {
  private timer: NodeJS.Timeout | undefined;
  private stopped = true;
  private failures = 0;
  private running: Promise<void> | undefined;
  /** Renewals so far. */
  renewals = 0;
  /** When the next attempt is due (ms since the epoch; 0 while stopped). */
  nextAt = 0;

  constructor(private readonly options: CertificateRenewerOptions) {}

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.scheduleRenewal();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.nextAt = 0;
  }

  /**
   * The cluster's certificate life (from the session). A certificate that would outlive a fresh one is renewed
   * as if it had been issued now with that life: at 50-80 % of it, not at 50-80 % of its own.
   */
  clusterLife(lifeMs: number): void {
    if (this.stopped || lifeMs <= 0) return;
    const now = this.now();
    if (this.life().notAfterMs <= now + lifeMs) return;
    const at = renewalTime({ notBeforeMs: now, notAfterMs: now + lifeMs }, this.options.random);
    if (this.nextAt === 0 || at < this.nextAt) this.schedule(at);
  }

  /** Renews now (not waiting for the time the life says), and resolves when it is done. */
  async renewNow(): Promise<void> {
    clearTimeout(this.timer);
    await this.attempt();
  }

  private now(): number {
    return this.options.now?.() ?? Date.now();
  }

  private life(): CertificateLife {
    return certificateLife(this.options.certificates.current().certPem);
  }

  private scheduleRenewal(): void {
    this.schedule(renewalTime(this.life(), this.options.random));
  }

  private schedule(at: number): void {
    if (this.stopped) return;
    clearTimeout(this.timer);
    this.nextAt = at;
    // setTimeout holds 32-bit delays: a far renewal (a 90-day certificate) is reached in steps.
    const delay = Math.min(Math.max(0, at - this.now()), 2 ** 31 - 1);
    this.timer = setTimeout(() => {
      if (this.now() + 5 < at) this.schedule(at);
      else void this.attempt();
    }, delay);
  }

  /** One attempt at a time: a renewal asked for while one runs waits for it instead of making a second key. */
  private attempt(): Promise<void> {
    this.running ??= this.renewOnce().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  private async renewOnce(): Promise<void> {
    const { certificates, logger } = this.options;
    const before = certificates.current();
    try {
      const { keyPem, csrPem } = await createKeyAndCsr();
      const certPem = await this.options.renew(csrPem);
      sameIdentity(before.certPem, certPem);
      this.options.save(certPem, keyPem);
      certificates.replace(certPem, keyPem);
      this.failures = 0;
      this.renewals++;
      const { notAfterMs } = certificateLife(certPem);
      logger?.info({ expires: new Date(notAfterMs).toISOString() }, 'certificate renewed');
      this.options.onRenewed?.(certPem);
      this.scheduleRenewal();
    } catch (err) {
      this.failures++;
      const { first, max } = this.options.backoffMs ?? { first: 1_000, max: 60_000 };
      // Never past the certificate's end, where every new connection would fail: retry sooner then.
      const left = this.life().notAfterMs - this.now();
      const wait = Math.max(first, Math.min(max, first * 2 ** (this.failures - 1), left > 0 ? left / 4 : max));
      // The message only: what was sent (a CSR) and received is no secret, but the key is never near the log.
      logger?.warn(
        { err: (err as Error).message, failures: this.failures, retryInMs: Math.round(wait) },
        'certificate renewal failed; trying again',
      );
      this.schedule(this.now() + wait);
    }
  }
}

/** A renewed certificate must name the same node and role as the one it replaces. */
function sameIdentity(beforePem: string, afterPem: string): void {
  const before = readIdentity(new X509Certificate(beforePem));
  const after = readIdentity(new X509Certificate(afterPem));
  if (before.nodeId !== after.nodeId || before.role !== after.role || before.clusterId !== after.clusterId) {
    throw new Error(
      `the renewed certificate names ${after.role} ${after.nodeId}, not ${before.role} ${before.nodeId}: not used`,
    );
  }
}
