/**
 * Seeded tie-breaking. Every node gets a rank from a hash of the seed and its id, so equal nodes are chosen in an
 * order that is stable for one seed, differs between seeds, and does not depend on the order of the input.
 */

/** FNV-1a over UTF-16 code units, seeded, with a final avalanche so ids differing only at the end still spread. */
export function hash32(seed: number, text: string): number {
  let h = (mix(Math.trunc(seed) >>> 0) ^ 0x811c9dc5) >>> 0;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return mix(h);
}

function mix(value: number): number {
  let h = value;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Sets `rank` to 0..n-1: hash order, then id order for the rare hash collision, so ranks are unique. */
export function assignRanks(items: readonly { readonly id: string; rank: number }[], seed: number): void {
  const keyed = items.map((item) => ({ item, hash: hash32(seed, item.id) }));
  keyed.sort((a, b) => a.hash - b.hash || compareStrings(a.item.id, b.item.id));
  for (let i = 0; i < keyed.length; i++) (keyed[i] as (typeof keyed)[number]).item.rank = i;
}

/** Code-unit order: locale-independent, so a decision never depends on the machine's locale. */
export function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
