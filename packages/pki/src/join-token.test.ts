import { FlotillaError } from '@flotilla/api';
import { describe, expect, it } from 'vitest';
import { generateJoinToken, parseJoinToken, roleForToken } from './join-token.js';

const FP = 'a'.repeat(64);

function code(fn: () => unknown): string {
  try {
    fn();
    return 'ok';
  } catch (err) {
    return err instanceof FlotillaError ? String(err.reason) : 'unexpected';
  }
}

describe('join tokens', () => {
  it('admit the role whose secret they carry', () => {
    const worker = generateJoinToken(FP);
    const manager = generateJoinToken(FP);
    const hashes = { worker: worker.secretHash, manager: manager.secretHash };
    expect(worker.token).toMatch(/^FLTKN-1-a{64}-[0-9a-z]{32}$/);
    expect(roleForToken(parseJoinToken(worker.token), FP, hashes)).toBe('worker');
    expect(roleForToken(parseJoinToken(` ${manager.token}\n`), FP, hashes)).toBe('manager');
    expect(worker.secretHash).not.toContain(parseJoinToken(worker.token).secret);
  });

  it('refuse rotated, foreign-CA and malformed tokens with distinct errors', () => {
    const old = generateJoinToken(FP);
    const current = generateJoinToken(FP);
    const hashes = { worker: current.secretHash, manager: generateJoinToken(FP).secretHash };
    expect(code(() => roleForToken(parseJoinToken(old.token), FP, hashes))).toBe('bad-token');
    expect(code(() => roleForToken(parseJoinToken(current.token), 'b'.repeat(64), hashes))).toBe('wrong-ca');
    for (const bad of [
      '',
      'SWMTKN-1-x-y',
      `FLTKN-1-${FP}`,
      `FLTKN-2-${FP}-${'a'.repeat(32)}`,
      `FLTKN-1-${FP}-UPPER${'a'.repeat(27)}`,
    ]) {
      expect(
        code(() => parseJoinToken(bad)),
        bad,
      ).toBe('malformed-token');
    }
  });
});
