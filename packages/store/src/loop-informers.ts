import { Informer } from './informer.js';
import type { Kind } from './kinds.js';
import type { Store } from './store.js';

/**
 * The informers of one loop: those handed to it, shared with the leader's other loops (one watch and one decode
 * per change, stopped by whoever made them), and those it makes for itself, which it alone stops.
 */
export class LoopInformers {
  private readonly made: { stop(): Promise<void> }[] = [];

  constructor(private readonly store: Store) {}

  /** The informer given, or a new one of this loop's own. */
  use<K extends Kind>(kind: K, given?: Informer<K>): Informer<K> {
    if (given) return given;
    const made = new Informer(this.store, kind);
    this.made.push(made);
    return made;
  }

  /** Stops the informers this loop made. */
  async stop(): Promise<void> {
    await Promise.all(this.made.map((i) => i.stop()));
  }
}
