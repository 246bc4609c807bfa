/**
 * A binary min-heap over `order`. Placement only ever changes the key of the item at the root (the node that just
 * took a task, the branch whose task count just grew), so the heap re-sifts the root and needs no position index.
 */
export class Heap<T> {
  private readonly items: T[];

  /** Takes ownership of `items` and orders them in place, in linear time. */
  constructor(
    items: T[],
    private readonly order: (a: T, b: T) => number,
  ) {
    this.items = items;
    for (let i = (items.length >> 1) - 1; i >= 0; i--) this.siftDown(i);
  }

  get size(): number {
    return this.items.length;
  }

  peek(): T | undefined {
    return this.items[0];
  }

  pop(): T | undefined {
    const items = this.items;
    const top = items[0];
    const last = items.pop();
    if (items.length > 0 && last !== undefined) {
      items[0] = last;
      this.siftDown(0);
    }
    return top;
  }

  /** Puts `item` in the root's place and restores the order: a pop and a push in one sift. */
  replaceRoot(item: T): void {
    this.items[0] = item;
    this.siftDown(0);
  }

  /** Hands the items over, in heap order, and leaves the heap empty. */
  drain(): T[] {
    return this.items.splice(0);
  }

  /** Restores the order after the root's key changed (a key that only grew or stayed the least). */
  rootChanged(): void {
    this.siftDown(0);
  }

  private siftDown(start: number): void {
    const items = this.items;
    const n = items.length;
    const item = items[start] as T;
    let i = start;
    for (;;) {
      let child = 2 * i + 1;
      if (child >= n) break;
      const right = child + 1;
      if (right < n && this.order(items[right] as T, items[child] as T) < 0) child = right;
      if (this.order(items[child] as T, item) >= 0) break;
      items[i] = items[child] as T;
      i = child;
    }
    items[i] = item;
  }
}
