/**
 * Runs `work` after changes settle: `quietMs` after the last poke, but never later than `maxDelayMs` after the
 * first one, and never two at once (a poke during a run schedules one more run after it). Control loops use
 * it so a burst of store events becomes one batch of decisions.
 */
export class Debounce {
  private quiet: NodeJS.Timeout | undefined;
  private cap: NodeJS.Timeout | undefined;
  private wake: NodeJS.Timeout | undefined;
  private wakeTime = Number.POSITIVE_INFINITY;
  private running: Promise<void> | undefined;
  private again = false;
  private stopped = false;
  private held: boolean;
  private pokedWhileHeld = false;

  constructor(
    private readonly work: () => Promise<void>,
    private readonly options: {
      quietMs?: number;
      maxDelayMs?: number;
      /**
       * A run that throws (its own failures a loop handles itself; this is for what gets past it, a bug). The
       * next poke runs again. Without it, the error becomes a process warning on stderr.
       */
      onError?: (err: unknown) => void;
      /**
       * Pokes wait for `release()`. A loop subscribes to shared caches when it is made, and they may deliver
       * before it has listed the others it reads: a run then would decide from half the state (a new leader's
       * orchestrator, its tasks listed and its services not yet, took every task for an orphan and stopped it).
       */
      held?: boolean;
    } = {},
  ) {
    this.held = options.held ?? false;
  }

  /** Lets pokes run from now on; one that came while held runs now. */
  release(): void {
    if (!this.held) return;
    this.held = false;
    if (this.pokedWhileHeld) {
      this.pokedWhileHeld = false;
      this.poke();
    }
  }

  /** Something changed: run soon. */
  poke(): void {
    if (this.stopped) return;
    if (this.held) {
      this.pokedWhileHeld = true;
      return;
    }
    if (this.running) {
      this.again = true;
      return;
    }
    clearTimeout(this.quiet);
    this.quiet = setTimeout(() => this.fire(), this.options.quietMs ?? 50);
    this.cap ??= setTimeout(() => this.fire(), this.options.maxDelayMs ?? 1_000);
  }

  /** Runs at the given time (a delay ending), unless an earlier wake-up is already set. */
  wakeAt(at: number, now = Date.now()): void {
    if (this.stopped || (this.wake && at >= this.wakeTime)) return;
    clearTimeout(this.wake);
    this.wakeTime = at;
    this.wake = setTimeout(
      () => {
        this.wake = undefined;
        this.wakeTime = Number.POSITIVE_INFINITY;
        this.poke();
      },
      Math.max(0, at - now),
    );
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const t of [this.quiet, this.cap, this.wake]) clearTimeout(t);
    await this.running;
  }

  /** Resolves when no run is in progress. */
  async idle(): Promise<void> {
    while (this.running) await this.running;
  }

  private fire(): void {
    clearTimeout(this.quiet);
    clearTimeout(this.cap);
    this.quiet = undefined;
    this.cap = undefined;
    if (this.stopped || this.running) return;
    this.running = this.work()
      .catch(this.options.onError ?? ((err: unknown) => process.emitWarning(err instanceof Error ? err : String(err))))
      .finally(() => {
        this.running = undefined;
        if (this.again) {
          this.again = false;
          this.poke();
        }
      });
  }
}
