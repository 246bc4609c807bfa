import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { readLimited } from './io.js';

describe('readLimited', () => {
  it('reads a stream to its end, and stops once past the limit', async () => {
    const chunks = () => Readable.from([Buffer.from('abc'), Buffer.from('def'), Buffer.from('ghi')]);
    expect((await readLimited(chunks(), 100)).toString()).toBe('abcdefghi');
    // Past 4 bytes after the second chunk: the third is never read.
    expect((await readLimited(chunks(), 4)).toString()).toBe('abcdef');
    expect((await readLimited(Readable.from([]), 4)).length).toBe(0);
  });
});
