import { X509Certificate } from 'node:crypto';

/** The shortest life a cluster may give its certificates (`cluster update --cert-expiry`): short enough for tests. */
export const MIN_CERT_EXPIRY_MS = 60_000;

/** Renewal starts at a random point in this part of a certificate's life, as swarmkit does. */
export const RENEW_FROM = 0.5;
export const RENEW_BY = 0.8;

/** When a certificate starts and stops being valid (ms since the epoch). */
export interface CertificateLife {
  notBeforeMs: number;
  notAfterMs: number;
}

export function certificateLife(certPem: string | X509Certificate): CertificateLife {
  const cert = typeof certPem === 'string' ? new X509Certificate(certPem) : certPem;
  return { notBeforeMs: Date.parse(cert.validFrom), notAfterMs: Date.parse(cert.validTo) };
}

/**
 * When to renew: a random point between 50 % and 80 % of the certificate's life, so that the nodes of a cluster
 * that joined together do not all renew at once, and a failed renewal still has a fifth of the life to retry in.
 */
export function renewalTime(life: CertificateLife, random: () => number = Math.random): number {
  const span = life.notAfterMs - life.notBeforeMs;
  const share = RENEW_FROM + (RENEW_BY - RENEW_FROM) * Math.min(Math.max(random(), 0), 1);
  return life.notBeforeMs + Math.round(span * share);
}

/** Whether a certificate is past half its life: the CLI asks for a new one then. */
export function pastHalfLife(life: CertificateLife, now = Date.now()): boolean {
  return now >= life.notBeforeMs + (life.notAfterMs - life.notBeforeMs) * RENEW_FROM;
}
