import type { Logger } from '@flotilla/observability';

export interface StoreProbeOptions {
  /** One cheap call to etcd; it must settle (the probe gives up on it after `timeoutMs`). */
  check: () => Promise<unknown>;
  log: Logger;
  intervalMs?: number;
  timeoutMs?: number;
  now?: () => number;
}

/**
 * Whether etcd answers this manager, checked every `intervalMs`: said in the log when it stops answering and when
 * it answers again (with how long it was away), and in /healthz. While it is away, running containers carry on;
 * writes fail with an error.
 */
export class StoreProbe {
  private answering = true;
  /** When etcd last answered. */
  private lastAnswer: number;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private readonly now: () => number;

  constructor(private readonly options: StoreProbeOptions) {
    this.now = options.now ?? Date.now;
    this.lastAnswer = this.now();
  }

  /** Whether etcd answered the last check. */
  get up(): boolean {
    return this.answering;
  }

  /** Milliseconds since etcd last answered, while it does not (0 while it answers). */
  downForMs(): number {
    return this.answering ? 0 : this.now() - this.lastAnswer;
  }

  start(): void {
    const tick = () => {
      this.running = this.probe().finally(() => {
        if (this.timer) this.timer = setTimeout(tick, this.options.intervalMs ?? 1_000);
      });
    };
    this.timer = setTimeout(tick, this.options.intervalMs ?? 1_000);
  }

  async stop(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.running;
  }

  /** One check; exported for tests. */
  async probe(): Promise<void> {
    let timeout: NodeJS.Timeout | undefined;
    const timeoutMs = this.options.timeoutMs ?? 2_000;
    try {
      await Promise.race([
        this.options.check(),
        new Promise((_, reject) => {
          timeout = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
        }),
      ]);
      if (!this.answering) this.options.log.info({ awayMs: this.now() - this.lastAnswer }, 'etcd answers again');
      this.answering = true;
      this.lastAnswer = this.now();
    } catch (err) {
      if (this.answering) {
        this.options.log.warn(
          { err: (err as Error).message },
          'etcd does not answer: writes (deploys, scaling, task status) fail until it does; running containers carry on',
        );
        this.answering = false;
      }
    } finally {
      clearTimeout(timeout);
    }
  }
}
