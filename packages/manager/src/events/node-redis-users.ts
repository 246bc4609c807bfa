import {
  type connectRedis,
  deleteNodeUser,
  disconnectRedis,
  nodePassword,
  nodeUserIds,
  setNodeUser,
} from '@flotilla/events';
import type { Logger } from '@flotilla/observability';
import type { Informer } from '@flotilla/store';

type Redis = ReturnType<typeof connectRedis>;

export interface NodeRedisUsersOptions {
  /** The leader's own connection to Redis, as the managers' (default) user: it owns it and closes it at stop. */
  redis: Redis;
  nodes: Informer<'nodes'>;
  /** The managers' Redis password: each node's password is derived from it (see nodePassword). */
  secret: string;
  logger: Logger;
  /** How soon a failed pass is tried again (default 1 s). */
  retryMs?: number;
}

/**
 * Keeps one Redis user per node of the cluster while this manager leads: a user for every node in the store
 * (append-only to its own log streams), none for a node that was removed. It acts on node changes and each time
 * its connection becomes ready (a restarted Redis has lost its users: they are made again), and retries a pass
 * that failed. Users already made are not sent again until Redis reconnects; removals are found by listing the
 * users, so a node removed while no leader reached Redis is shut out at the next pass.
 */
export class NodeRedisUsers {
  private readonly made = new Set<string>();
  private unsubscribe: (() => void) | undefined;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private stopped = false;
  private failing = false;

  constructor(private readonly options: NodeRedisUsersOptions) {}

  start(): void {
    this.unsubscribe = this.options.nodes.subscribe(() => this.soon(0));
    this.options.redis.on('ready', this.onReady);
    this.soon(0);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.unsubscribe?.();
    this.options.redis.off('ready', this.onReady);
    clearTimeout(this.timer);
    await this.running;
    await disconnectRedis(this.options.redis);
  }

  private readonly onReady = () => {
    this.made.clear();
    this.soon(0);
  };

  private soon(delayMs: number): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.running = this.pass().then((done) => {
        this.running = undefined;
        // Changes that came during the pass are looked at now; a failed pass is tried again after a while.
        const retry = this.again || done ? 0 : (this.options.retryMs ?? 1_000);
        if (this.again || !done) this.soon(retry);
        this.again = false;
      });
    }, delayMs);
  }

  /** One pass; false when it failed. */
  private async pass(): Promise<boolean> {
    const { redis, secret, logger } = this.options;
    if (redis.status !== 'ready') return true; // 'ready' starts the next pass
    const wanted = new Set(this.options.nodes.list().map((n) => n.id));
    try {
      for (const id of wanted) {
        if (this.made.has(id)) continue;
        await setNodeUser(redis, id, nodePassword(secret, id));
        this.made.add(id);
      }
      const gone = (await nodeUserIds(redis)).filter((id) => !wanted.has(id));
      for (const id of gone) {
        await deleteNodeUser(redis, id);
        this.made.delete(id);
        logger.info({ node: id }, 'Redis user of a removed node deleted: its connections are closed');
      }
      if (this.failing) logger.info('Redis users of the nodes are up to date again');
      this.failing = false;
      return true;
    } catch (err) {
      // Said once per outage; the message names users, never passwords.
      if (!this.failing) logger.warn({ err: (err as Error).message }, 'Redis users of the nodes not updated: retrying');
      this.failing = true;
      return false;
    }
  }
}
