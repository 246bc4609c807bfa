import { Writable } from 'node:stream';
import type { SessionResponse } from '@flotilla/api';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type MessageKind, SessionWriter } from './session-writer.js';

/** A real object-mode stream whose reader takes a message only when the test lets it (an agent that reads slowly). */
function slowStream(highWaterMark = 4) {
  const read: SessionResponse[] = [];
  const waiting: (() => void)[] = [];
  const stream = new Writable({
    objectMode: true,
    highWaterMark,
    write(message: SessionResponse, _encoding, done) {
      read.push(message);
      waiting.push(done);
    },
  });
  /** The reader takes everything sent so far (and what that lets through). */
  const drain = async () => {
    while (waiting.length > 0) {
      waiting.shift()?.();
      await new Promise((r) => setImmediate(r));
    }
  };
  return { stream, read, drain };
}

const full = (n: number): SessionResponse => ({
  assignments: { full: true, tasks: [], removedTaskIds: [`full${n}`], files: [] },
});
const change = (id: string): SessionResponse => ({
  assignments: { full: false, tasks: [], removedTaskIds: [id], files: [] },
});

describe('writes toward an agent', () => {
  it('holds at most one message per kind while the agent does not read, and sends the whole set on a drain', async () => {
    const { stream, read, drain } = slowStream();
    let fulls = 0;
    const closed: string[] = [];
    const writer = new SessionWriter(stream, {
      fullAssignments: () => full(++fulls),
      maxBehindMs: 60_000,
      onBehind: (reason) => closed.push(reason),
    });
    for (let i = 0; i < 10_000; i++) writer.send('assignments', change(`c${i}`));
    for (let i = 0; i < 100; i++) writer.send('heartbeatAck', { heartbeatAck: { sentAtMs: BigInt(i) } });
    writer.send('network', { network: { nodeAddress: 'a' } as never });
    writer.send('network', { network: { nodeAddress: 'b' } as never });
    expect(writer.behind).toBe(true);
    expect(writer.holding).toBe(3);
    // What the stream took before it pushed back: its high-water mark.
    expect(stream.writableLength).toBeLessThanOrEqual(4);
    await drain();
    expect(writer.behind).toBe(false);
    expect(writer.holding).toBe(0);
    const after = read.slice(4);
    expect(after).toEqual([full(1), { network: { nodeAddress: 'b' } }, { heartbeatAck: { sentAtMs: 99n } }]);
    expect(closed).toEqual([]);
    writer.close();
  });

  it('writes messages given together all at once, even past the mark: an agent never gets files without their tasks', async () => {
    const { stream, read, drain } = slowStream(2);
    const files = (n: number): SessionResponse => ({
      assignments: {
        full: false,
        tasks: [],
        removedTaskIds: [],
        files: [{ objectId: `o${n}`, data: Buffer.from('x') }],
      },
    });
    let fulls = 0;
    const writer = new SessionWriter(stream, {
      fullAssignments: () => [files(9), full(++fulls)],
      maxBehindMs: 60_000,
      onBehind: () => undefined,
    });
    writer.send('assignments', [files(1), files(2), files(3), change('c1')]);
    // All four went to the stream, past its mark of two.
    expect(stream.writableLength).toBe(4);
    expect(writer.behind).toBe(true);
    // Behind: what comes next is held as a note that the whole set is to be sent, made (with its files) on a drain.
    writer.send('assignments', [files(4), change('c2')]);
    expect(stream.writableLength).toBe(4);
    await drain();
    expect(read.slice(0, 4)).toEqual([files(1), files(2), files(3), change('c1')]);
    expect(read.slice(4)).toEqual([files(9), full(1)]);
    writer.close();
  });

  it('closes the session of an agent that stays behind past the bound, and holds nothing after', async () => {
    const { stream } = slowStream(1);
    let reason = '';
    const writer = new SessionWriter(stream, {
      fullAssignments: () => full(0),
      maxBehindMs: 50,
      onBehind: (r) => {
        reason = r;
      },
    });
    for (let i = 0; i < 10; i++) writer.send('assignments', change(`c${i}`));
    await new Promise((r) => setTimeout(r, 120));
    expect(reason).toMatch(/^does not read its session: behind for \d+ ms \(limit 50 ms\), 9 messages held back$/);
    expect(writer.holding).toBe(0);
    writer.send('session', { session: undefined } as SessionResponse);
    expect(writer.holding).toBe(0);
  });

  it('whatever the sends and drains, the held messages stay one per kind, and a drained stream gets the latest', async () => {
    const kinds: MessageKind[] = ['session', 'assignments', 'network', 'promotion', 'heartbeatAck'];
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.oneof(fc.constantFrom(...kinds), fc.constant('drain' as const)), { maxLength: 300 }),
        async (steps) => {
          const { stream, read, drain } = slowStream(2);
          const writer = new SessionWriter(stream, {
            fullAssignments: () => full(0),
            maxBehindMs: 60_000,
            onBehind: () => undefined,
          });
          let n = 0;
          let last: SessionResponse | undefined;
          for (const step of steps) {
            if (step === 'drain') await drain();
            else {
              last =
                step === 'heartbeatAck' ? { heartbeatAck: { sentAtMs: BigInt(++n) } } : { heartbeatAck: undefined };
              writer.send(step, last);
            }
            expect(writer.holding).toBeLessThanOrEqual(kinds.length);
            expect(stream.writableLength).toBeLessThanOrEqual(2);
          }
          await drain();
          expect(writer.holding).toBe(0);
          if (last?.heartbeatAck) expect(read.at(-1)).toEqual(last);
          writer.close();
        },
      ),
      { numRuns: 50 },
    );
  });
});
