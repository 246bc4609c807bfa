/**
 * A token bucket: `capacity` tokens at most, refilled at `perSecond`; a cost is taken only if the bucket holds it.
 * The capacity and rate may change between calls (a node's budget grows with its tasks): a capacity that grows
 * adds what it grew by at once (a node handed many tasks may report them all). The clock is passed in, so that
 * the decision stays a pure function of what was taken and when.
 */
export class TokenBucket {
  private tokens: number;
  private at: number;

  constructor(
    private capacity: number,
    now: number,
  ) {
    this.tokens = capacity;
    this.at = now;
  }

  /** Takes `cost` tokens if there are that many after refilling up to now; false (nothing taken) otherwise. */
  take(cost: number, budget: { capacity: number; perSecond: number }, now: number): boolean {
    // A clock that went back refills nothing (and takes nothing back).
    const elapsed = Math.max(0, now - this.at);
    this.tokens += Math.max(0, budget.capacity - this.capacity);
    this.capacity = budget.capacity;
    this.at = Math.max(this.at, now);
    this.tokens = Math.min(budget.capacity, this.tokens + (elapsed * budget.perSecond) / 1000);
    if (cost > this.tokens) return false;
    this.tokens -= cost;
    return true;
  }

  /** Tokens left (after the last take). */
  get left(): number {
    return this.tokens;
  }
}
