interface Head<T> {
  item: T;
  source: number;
  iterator: AsyncIterator<T>;
}

/**
 * Merges sources that are each in time order into one in time order (ties: the earlier source first), pulling
 * one item ahead from each. A min-heap of the sources' heads keeps each step at log(sources), so merging the
 * logs of hundreds of tasks costs little more than reading them. Stopping early closes every source.
 */
export async function* mergeByTime<T>(sources: AsyncIterable<T>[], time: (item: T) => number): AsyncGenerator<T> {
  const iterators = sources.map((s) => s[Symbol.asyncIterator]());
  const before = (a: Head<T>, b: Head<T>) => {
    const d = time(a.item) - time(b.item);
    return d < 0 || (d === 0 && a.source < b.source);
  };
  const heap: Head<T>[] = [];
  const siftDown = (start: number) => {
    let i = start;
    for (;;) {
      const left = 2 * i + 1;
      const right = left + 1;
      let least = i;
      if (left < heap.length && before(heap[left] as Head<T>, heap[least] as Head<T>)) least = left;
      if (right < heap.length && before(heap[right] as Head<T>, heap[least] as Head<T>)) least = right;
      if (least === i) return;
      [heap[i], heap[least]] = [heap[least] as Head<T>, heap[i] as Head<T>];
      i = least;
    }
  };
  try {
    const firsts = await Promise.all(iterators.map((it) => it.next()));
    firsts.forEach((first, source) => {
      if (!first.done) heap.push({ item: first.value, source, iterator: iterators[source] as AsyncIterator<T> });
    });
    for (let i = (heap.length >> 1) - 1; i >= 0; i--) siftDown(i);
    while (heap.length > 0) {
      const top = heap[0] as Head<T>;
      yield top.item;
      const next = await top.iterator.next();
      if (next.done) {
        const last = heap.pop() as Head<T>;
        if (heap.length === 0) break;
        heap[0] = last;
      } else {
        top.item = next.value;
      }
      siftDown(0);
    }
  } finally {
    await Promise.allSettled(iterators.map((it) => it.return?.()));
  }
}
