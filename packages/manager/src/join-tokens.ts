import { generateJoinToken, StateDir } from '@flotilla/pki';
import { type Store, StoreError } from '@flotilla/store';
import { CLUSTER_KEY } from './cluster-bootstrap.js';

export type TokenRole = 'worker' | 'manager';

/**
 * The join tokens this manager knows (kept 0600 in its state directory) and their rotation: a new secret's hash
 * replaces the old one in the Cluster object, so every manager refuses the old token from then on.
 */
export class JoinTokens {
  constructor(
    private readonly store: Store,
    private readonly stateDir: string,
    private readonly caFingerprint: string,
  ) {}

  get(role: TokenRole): string | undefined {
    const dir = new StateDir(this.stateDir);
    if (!dir.has('join-tokens.json')) return undefined;
    return (JSON.parse(dir.read('join-tokens.json')) as Partial<Record<TokenRole, string>>)[role];
  }

  async rotate(role: TokenRole): Promise<string> {
    const fresh = generateJoinToken(this.caFingerprint);
    const hash = role === 'worker' ? { workerTokenHash: fresh.secretHash } : { managerTokenHash: fresh.secretHash };
    const cluster = await this.store.modify('clusters', CLUSTER_KEY, (c) => ({ ...c, ...hash }));
    if (!cluster) throw new StoreError('not-found', 'the cluster is not initialized');
    const dir = new StateDir(this.stateDir);
    const tokens = dir.has('join-tokens.json') ? JSON.parse(dir.read('join-tokens.json')) : {};
    dir.write('join-tokens.json', `${JSON.stringify({ ...tokens, [role]: fresh.token })}\n`, true);
    return fresh.token;
  }
}
