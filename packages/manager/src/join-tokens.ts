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
    for (let attempt = 0; attempt < 5; attempt++) {
      const cluster = await this.store.get('clusters', CLUSTER_KEY);
      if (!cluster) throw new StoreError('not-found', 'the cluster is not initialized');
      const value = {
        ...cluster.value,
        ...(role === 'worker' ? { workerTokenHash: fresh.secretHash } : { managerTokenHash: fresh.secretHash }),
      };
      try {
        await this.store.update('clusters', CLUSTER_KEY, value, cluster.version);
        const dir = new StateDir(this.stateDir);
        const tokens = dir.has('join-tokens.json') ? JSON.parse(dir.read('join-tokens.json')) : {};
        dir.write('join-tokens.json', `${JSON.stringify({ ...tokens, [role]: fresh.token })}\n`, true);
        return fresh.token;
      } catch (err) {
        if (!(err instanceof StoreError) || err.code !== 'conflict') throw err;
      }
    }
    throw new StoreError('conflict', 'the cluster object kept changing during the rotation: try again');
  }
}
