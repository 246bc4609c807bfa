import { type Cluster, Code, FlotillaError } from '@flotilla/api';
import { generateJoinToken, seal, unseal } from '@flotilla/pki';
import { CLUSTER_KEY, type Store } from '@flotilla/store';

export type TokenRole = 'worker' | 'manager';

export const TOKENS_PURPOSE = 'join tokens';

/** The current tokens from the Cluster object, opened with the CA key. */
export function openTokens(cluster: Cluster, caKeyPem: string): Record<TokenRole, string> {
  const tokens = JSON.parse(unseal(caKeyPem, TOKENS_PURPOSE, cluster.sealedJoinTokens)) as Record<TokenRole, string>;
  if (typeof tokens.worker !== 'string' || typeof tokens.manager !== 'string') {
    throw new FlotillaError(Code.PermissionDenied, 'the sealed join tokens are incomplete: rotate both', {
      reason: 'untrusted',
    });
  }
  return tokens;
}

/**
 * The join tokens, which every manager can show: the Cluster object holds the hashes that joins are checked
 * against and the tokens sealed with the CA key. Rotation replaces both in one compare-and-swap, so every
 * manager refuses the old token from then on.
 */
export class JoinTokens {
  constructor(
    private readonly store: Store,
    /** The CA key and its fingerprint (functions: they change when a CA rotation ends). */
    private readonly key: string | (() => string),
    private readonly fingerprint: string | (() => string),
  ) {}

  private get caKeyPem(): string {
    return typeof this.key === 'string' ? this.key : this.key();
  }

  private get caFingerprint(): string {
    return typeof this.fingerprint === 'string' ? this.fingerprint : this.fingerprint();
  }

  async get(role: TokenRole): Promise<string> {
    return openTokens(await this.cluster(), this.caKeyPem)[role];
  }

  async rotate(role: TokenRole): Promise<string> {
    const fresh = generateJoinToken(this.caFingerprint);
    const hash = role === 'worker' ? { workerTokenHash: fresh.secretHash } : { managerTokenHash: fresh.secretHash };
    const cluster = await this.store.modify('clusters', CLUSTER_KEY, (c) => {
      const tokens = { ...openTokens(c, this.caKeyPem), [role]: fresh.token };
      return { ...c, ...hash, sealedJoinTokens: seal(this.caKeyPem, TOKENS_PURPOSE, JSON.stringify(tokens)) };
    });
    if (!cluster) throw new FlotillaError(Code.NotFound, 'the cluster is not initialized');
    return fresh.token;
  }

  private async cluster(): Promise<Cluster> {
    const cluster = await this.store.get('clusters', CLUSTER_KEY);
    if (!cluster) throw new FlotillaError(Code.NotFound, 'the cluster is not initialized');
    return cluster.value;
  }
}
