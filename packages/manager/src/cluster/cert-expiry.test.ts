import { Code, FlotillaError } from '@flotilla/api';
import { CA_VALIDITY_MS } from '@flotilla/pki';
import { describe, expect, it } from 'vitest';
import { checkCertExpiry } from './cert-expiry.js';

const refusal = (ms: bigint) => {
  try {
    checkCertExpiry(ms);
    return undefined;
  } catch (err) {
    return err instanceof FlotillaError ? `${err.code}: ${err.message}` : err;
  }
};

describe('checkCertExpiry', () => {
  it('takes lives from one minute to the life of the CA', () => {
    for (const ms of [60_000n, 90n * 86_400_000n, BigInt(CA_VALIDITY_MS)]) expect(refusal(ms)).toBeUndefined();
  });

  it('refuses too short a life, and one beyond the CA or the int64 it is stored in, as invalid arguments', () => {
    expect(refusal(59_999n)).toMatch(`${Code.InvalidArgument}: a certificate expiry of 59999 ms is too short`);
    for (const ms of [BigInt(CA_VALIDITY_MS) + 1n, 10n ** 15n, 2n ** 63n - 1n]) {
      expect(refusal(ms)).toMatch(new RegExp(`^${Code.InvalidArgument}: .* is too long: give at most 7300d`));
    }
  });
});
