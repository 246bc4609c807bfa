import { existsSync, rmSync } from 'node:fs';
import path from 'node:path';
import type { Promotion } from '@flotilla/api';
import { createLogger, type Logger } from '@flotilla/observability';
import { StateDir } from '@flotilla/pki';
import type { EtcdOptions } from '@flotilla/store';
import { type ManagerOptions, type RunningManager, startManager } from './manager.js';

export interface PromotedManagerOptions {
  /** The agent's state directory: the manager keeps its own in `manager/` there. */
  agentStateDir: string;
  /** HOST:PORT the manager serves agents and the CLI on (agent start --manager-listen). */
  listen: string;
  /** Its own etcd member's addresses (default ports 2379 and 2380 on the host of `listen`). */
  embeddedEtcd?: ManagerOptions['embeddedEtcd'];
  /** An external etcd, when the cluster's managers use one (instead of a member of its own). */
  etcd?: EtcdOptions;
  httpListen?: string;
  electionTtlSeconds?: number;
  cliConfigDir?: string;
  logger?: Logger;
}

/** Where the Redis the promotion named is kept for restarts (its password too: mode 0600, like the keys). */
const REDIS_FILE = 'redis.json';

/**
 * The manager a promoted node's agent runs in its own process (`node promote`): started when the leader sends
 * the promotion, joining with the one-time credential; started again from its state directory when the agent
 * restarts; and, once demoted, out of etcd's membership, stopped and its state directory removed (the agent and
 * its tasks run on throughout, and the node can be promoted again).
 */
export class PromotedManager {
  private current: RunningManager | undefined;
  private starting: Promise<void> | undefined;
  private closed = false;
  private readonly log: Logger;

  constructor(private readonly options: PromotedManagerOptions) {
    this.log = options.logger ?? createLogger('manager');
  }

  get stateDir(): string {
    return path.join(this.options.agentStateDir, 'manager');
  }

  /** The manager while it runs. */
  get running(): RunningManager | undefined {
    return this.current;
  }

  /** A node promoted before the agent restarted: its manager starts again from its state directory. */
  async resume(): Promise<void> {
    if (!existsSync(path.join(this.stateDir, 'ca.key'))) return;
    this.starting = this.run(undefined);
    await this.starting;
  }

  /** The leader's promotion: a manager joins the control plane (a second one, while one runs, is ignored). */
  promote(promotion: Promotion): void {
    if (this.closed || this.current || this.starting) {
      this.log.warn({ manager: promotion.managerId }, 'promotion ignored: this node runs a manager already');
      return;
    }
    // The credential is never logged: the manager ID and where it joins are enough to follow it.
    this.log.info({ manager: promotion.managerId, join: promotion.joinAddress }, 'promoted: starting a manager');
    this.starting = this.run(promotion).catch((err: unknown) => {
      // What joined nothing leaves nothing: the next promotion starts afresh.
      rmSync(this.stateDir, { recursive: true, force: true });
      this.log.error(
        { err: (err as Error).message },
        'the promoted manager did not start: demote it (flotilla node demote NODE), then promote the node again',
      );
    });
  }

  async stop(): Promise<void> {
    this.closed = true;
    await this.starting?.catch(() => undefined);
    await this.current?.stop();
    this.current = undefined;
  }

  private async run(promotion: Promotion | undefined): Promise<void> {
    try {
      const running = await startManager(this.managerOptions(promotion));
      if (promotion?.logs?.redisAddress) {
        new StateDir(this.stateDir).replace(REDIS_FILE, `${JSON.stringify(promotion.logs)}\n`, true);
      }
      this.current = running;
      if (this.closed) await this.stop();
      else void running.demoted.then(() => this.demoted(running));
    } finally {
      this.starting = undefined;
    }
  }

  private managerOptions(promotion: Promotion | undefined): ManagerOptions {
    const { options } = this;
    const logs = promotion?.logs ?? this.keptRedis();
    return {
      ...(options.etcd ? { etcd: options.etcd } : { embeddedEtcd: options.embeddedEtcd ?? {} }),
      listen: options.listen,
      stateDir: this.stateDir,
      ...(promotion ? { join: { manager: promotion.joinAddress, token: promotion.token } } : {}),
      ...(options.httpListen ? { httpListen: options.httpListen } : {}),
      ...(options.electionTtlSeconds ? { electionTtlSeconds: options.electionTtlSeconds } : {}),
      ...(options.cliConfigDir ? { cliConfigDir: options.cliConfigDir } : {}),
      ...(logs?.redisAddress
        ? {
            redis: {
              address: logs.redisAddress,
              ...(logs.redisPassword ? { password: logs.redisPassword } : {}),
              ...(logs.redisTls ? { tls: true } : {}),
            },
          }
        : {}),
      logger: this.log,
    };
  }

  private keptRedis(): Promotion['logs'] {
    const dir = new StateDir(this.stateDir);
    return dir.has(REDIS_FILE) ? (JSON.parse(dir.read(REDIS_FILE)) as Promotion['logs']) : undefined;
  }

  /** Demoted (its etcd member has left by then, see RunningManager.demoted): it stops and its state goes. */
  private async demoted(running: RunningManager): Promise<void> {
    this.log.warn({ manager: running.identity.nodeId }, 'this node was demoted: its manager leaves the control plane');
    // Its store may be gone with its member (a leader's resignation then waits for nothing): the stop is bounded.
    let timer: NodeJS.Timeout | undefined;
    const bound = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        this.log.warn('the demoted manager took over 15 s to stop: leaving it');
        resolve();
      }, 15_000);
    });
    await Promise.race([running.stop(), bound]).finally(() => clearTimeout(timer));
    if (this.current === running) this.current = undefined;
    rmSync(this.stateDir, { recursive: true, force: true });
  }
}
