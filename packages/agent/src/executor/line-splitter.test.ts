import { describe, expect, it } from 'vitest';
import { LineSplitter } from './line-splitter.js';

function splitter(maxLength?: number) {
  const batches: string[][] = [];
  const lines = new LineSplitter((batch) => batches.push(batch), maxLength);
  return { lines, batches, all: () => batches.flat() };
}

describe('LineSplitter', () => {
  it('sends whole lines without their newlines, one batch per chunk, and holds a partial line', () => {
    const { lines, batches } = splitter();
    lines.write(Buffer.from('one\ntwo\nthr'));
    expect(batches).toEqual([['one', 'two']]);
    lines.write(Buffer.from('ee\n'));
    expect(batches).toEqual([['one', 'two'], ['three']]);
    lines.write(Buffer.from('no newline at the end'));
    expect(batches).toHaveLength(2);
    lines.end();
    expect(batches.at(-1)).toEqual(['no newline at the end']);
  });

  it('keeps empty lines and sends nothing more at the end when the last line was whole', () => {
    const { lines, all, batches } = splitter();
    lines.write('a\n\nb\n');
    lines.end();
    expect(all()).toEqual(['a', '', 'b']);
    expect(batches).toHaveLength(1);
  });

  it('keeps a UTF-8 character split across two chunks whole', () => {
    const { lines, all } = splitter();
    const bytes = Buffer.from('héllo wörld\n');
    lines.write(bytes.subarray(0, 2));
    lines.write(bytes.subarray(2, 9));
    lines.write(bytes.subarray(9));
    expect(all()).toEqual(['héllo wörld']);
  });

  it('cuts a line longer than the cap into pieces, without waiting for its newline', () => {
    const { lines, all } = splitter(4);
    lines.write('abcdefghij');
    expect(all()).toEqual(['abcd', 'efgh']);
    lines.write('k\n123456789\n');
    expect(all()).toEqual(['abcd', 'efgh', 'ijk', '1234', '5678', '9']);
  });

  it('never holds more than the cap of a line without newlines', () => {
    const { lines, all } = splitter();
    for (let i = 0; i < 10; i++) lines.write('x'.repeat(10_000));
    expect(all().every((l) => l.length === 16 * 1024)).toBe(true);
    lines.end();
    expect(all().join('')).toHaveLength(100_000);
  });
});
