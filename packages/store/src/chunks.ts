/** etcd's default --max-txn-ops: compares and operations of one transaction each stay under it. */
export const MAX_TXN_OPS = 128;
/** Below etcd's default --max-request-bytes (1.5 MiB), with room for keys, compares and framing. */
export const MAX_TXN_BYTES = 1024 * 1024;

/**
 * Splits writes into transactions that etcd accepts: at most `maxOps` each (one slot is kept for the fence
 * compare) and at most `maxBytes` of values. Order is kept. A single write over the byte limit gets a chunk of
 * its own, which etcd then refuses as too large.
 */
export function chunk<T>(
  items: Iterable<T>,
  size: (item: T) => number,
  maxOps = MAX_TXN_OPS - 1,
  maxBytes = MAX_TXN_BYTES,
): T[][] {
  return [...chunks(items, size, maxOps, maxBytes)];
}

/** `chunk`, lazily: each chunk is made when asked for, so the first can be sent before the rest are made. */
export function* chunks<T>(
  items: Iterable<T>,
  size: (item: T) => number,
  maxOps = MAX_TXN_OPS - 1,
  maxBytes = MAX_TXN_BYTES,
): Generator<T[]> {
  let current: T[] = [];
  let bytes = 0;
  for (const item of items) {
    const n = size(item);
    if (current.length > 0 && (current.length >= maxOps || bytes + n > maxBytes)) {
      yield current;
      current = [];
      bytes = 0;
    }
    current.push(item);
    bytes += n;
  }
  if (current.length > 0) yield current;
}
