import { gzipSync } from 'node:zlib';
import fc from 'fast-check';

/** One entry of a hand-made tar: its type flag ('0' file, '2' symlink, '1' hard link, '5' directory). */
export interface TarEntry {
  name: string;
  type: '0' | '1' | '2' | '5';
  linkname?: string;
  content?: Buffer;
  /** A size field that lies about the content. */
  claimedSize?: number;
}

/** A ustar archive written by hand, so that it can hold what a well-behaved tar writer refuses to write. */
export function tarArchive(entries: readonly TarEntry[]): Buffer {
  const blocks: Buffer[] = [];
  for (const e of entries) {
    const header = Buffer.alloc(512);
    const content = e.content ?? Buffer.alloc(0);
    header.write(e.name.slice(0, 100), 0, 'utf8');
    header.write('0000644\0', 100);
    header.write('0000000\0', 108);
    header.write('0000000\0', 116);
    header.write(`${(e.claimedSize ?? content.length).toString(8).padStart(11, '0').slice(-11)}\0`, 124);
    header.write('00000000000\0', 136);
    header.write(e.type, 156);
    header.write((e.linkname ?? '').slice(0, 100), 157, 'utf8');
    header.write('ustar\0' + '00', 257, 'latin1');
    header.fill(0x20, 148, 156);
    let sum = 0;
    for (const byte of header) sum += byte;
    header.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
    blocks.push(header, content, Buffer.alloc((512 - (content.length % 512)) % 512));
  }
  blocks.push(Buffer.alloc(1024));
  return Buffer.concat(blocks);
}

const escapingNames = fc.constantFrom(
  '../../etc/x',
  '/etc/passwd',
  'a/../../../x',
  './../x',
  '..',
  'usr/bin/../../../../tmp/x',
  'a\0b',
  `${'d/'.repeat(60)}x`,
);

/**
 * Layers as a hostile image carries them: entries that climb out of the root by `..`, absolute paths, symlinks
 * and hard links pointing outside, a symlinked directory written through, size fields that lie, and bombs
 * (gzip of zeros that expands a thousand times).
 */
export const hostileLayer: fc.Arbitrary<Buffer> = fc.oneof(
  fc
    .array(
      fc.record({
        name: fc.oneof(escapingNames, fc.string({ maxLength: 20 })),
        type: fc.constantFrom('0' as const, '1' as const, '2' as const, '5' as const),
        linkname: fc.oneof(escapingNames, fc.constant('/'), fc.constant('/etc')),
        content: fc.uint8Array({ maxLength: 64 }).map((b) => Buffer.from(b)),
        claimedSize: fc.option(fc.oneof(fc.nat(1_000), fc.constant(8 ** 11 - 1)), { nil: undefined }),
      }),
      { minLength: 1, maxLength: 5 },
    )
    .map((entries) => gzipSync(tarArchive(entries))),
  fc.constant(0).map(() =>
    gzipSync(
      tarArchive([
        { name: 'escape', type: '2', linkname: '/tmp' },
        { name: 'escape/flotilla-fuzz-x', type: '0', content: Buffer.from('x') },
      ]),
    ),
  ),
  fc.integer({ min: 1, max: 8 }).map((mib) => gzipSync(Buffer.alloc(mib * 1024 * 1024))),
  fc.uint8Array({ maxLength: 2_000 }).map((b) => Buffer.from(b)),
);
