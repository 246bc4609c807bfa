import { FlotillaError } from '@flotilla/api';
import { describe, expect, it } from 'vitest';
import { sha256Digest, verifyStream } from './content-digest.js';

async function drain(source: AsyncIterable<Buffer>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of source) chunks.push(chunk);
  return Buffer.concat(chunks);
}

async function* chunks(...parts: string[]): AsyncGenerator<Buffer> {
  for (const part of parts) yield Buffer.from(part);
}

describe('verifyStream', () => {
  const content = 'hello, layer';
  const good = { digest: sha256Digest(Buffer.from(content)), size: content.length };

  it('passes content through when size and digest match', async () => {
    expect((await drain(verifyStream(chunks('hello, ', 'layer'), good, 'blob'))).toString()).toBe(content);
  });

  it.each([
    ['different bytes', ['hello, LAYER'], 'hashes to'],
    ['too few bytes', ['hello'], 'ended after 5 of 12 bytes'],
    ['too many bytes', ['hello, layer', '!'], 'longer than the 12 bytes'],
  ])('fails with digest-mismatch on %s', async (_, parts, message) => {
    const err = await drain(verifyStream(chunks(...parts), good, 'blob x')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FlotillaError);
    expect((err as FlotillaError).reason).toBe('digest-mismatch');
    expect((err as FlotillaError).message).toContain(message);
  });

  it('releases the source when the consumer stops early, and reports a source that breaks off', async () => {
    let released = false;
    async function* source(): AsyncGenerator<Buffer> {
      try {
        yield Buffer.from('hello, ');
        yield Buffer.from('layer');
      } finally {
        released = true;
      }
    }
    for await (const _ of verifyStream(source(), good, 'blob')) break;
    expect(released).toBe(true);

    async function* broken(): AsyncGenerator<Buffer> {
      yield Buffer.from('hel');
      throw Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
    }
    const err = await drain(verifyStream(broken(), good, 'blob y')).catch((e: unknown) => e);
    expect((err as FlotillaError).reason).toBe('unavailable');
    expect((err as FlotillaError).message).toContain('the download of blob y broke off');
  });
});
