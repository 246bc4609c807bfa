import { Code, FlotillaError } from '@flotilla/api';

/**
 * A FIFO of at most `capacity` items that makes room by dropping the oldest, and counts every drop. Backed by a
 * ring so that pushing and taking stay O(1) when it is full and events keep coming during a long outage.
 */
export class BoundedBuffer<T> {
  private readonly ring: (T | undefined)[];
  private head = 0;
  private size = 0;
  private droppedCount = 0;

  constructor(readonly capacity: number) {
    if (!Number.isSafeInteger(capacity) || capacity < 1) {
      throw new FlotillaError(Code.InvalidArgument, `buffer capacity must be a positive integer, got ${capacity}`, {
        reason: 'invalid-argument',
      });
    }
    this.ring = new Array<T | undefined>(capacity);
  }

  get length(): number {
    return this.size;
  }

  /** How many items were dropped to make room, since the buffer was made. */
  get dropped(): number {
    return this.droppedCount;
  }

  /** Appends an item; when full, drops the oldest first. Returns how many were dropped (0 or 1). */
  push(item: T): number {
    let dropped = 0;
    if (this.size === this.capacity) {
      this.shiftOne();
      dropped = 1;
      this.droppedCount++;
    }
    this.ring[(this.head + this.size) % this.capacity] = item;
    this.size++;
    return dropped;
  }

  /** Removes and returns up to `max` of the oldest items, oldest first. */
  take(max: number): T[] {
    const n = Math.min(max, this.size);
    const out = new Array<T>(n);
    for (let i = 0; i < n; i++) out[i] = this.shiftOne();
    return out;
  }

  /**
   * Returns items taken earlier (and not delivered) to the front, in their order. They are older than everything
   * still in the buffer, so if there is not room for all, the oldest of them are the ones dropped. Returns how
   * many were dropped.
   */
  putBack(items: readonly T[]): number {
    const room = this.capacity - this.size;
    const dropped = Math.max(0, items.length - room);
    for (let i = items.length - 1; i >= dropped; i--) {
      this.head = (this.head - 1 + this.capacity) % this.capacity;
      this.ring[this.head] = items[i];
      this.size++;
    }
    this.droppedCount += dropped;
    return dropped;
  }

  /** Empties the buffer and returns what it held, oldest first (not counted as dropped). */
  drain(): T[] {
    return this.take(this.size);
  }

  private shiftOne(): T {
    const item = this.ring[this.head] as T;
    this.ring[this.head] = undefined; // let the item be collected
    this.head = (this.head + 1) % this.capacity;
    this.size--;
    return item;
  }
}
