import { describe, expect, it } from 'vitest';
import { lockWithPassphrase, openWithPassphrase } from './passphrase-box.js';

describe('a box locked with a passphrase', () => {
  it('opens with the same passphrase only, and refuses a changed box', async () => {
    const box = await lockWithPassphrase('a long enough passphrase', Buffer.from('the CA key'));
    expect(box.ciphertext).not.toContain(Buffer.from('the CA key').toString('base64'));
    expect((await openWithPassphrase('a long enough passphrase', box)).toString()).toBe('the CA key');
    await expect(openWithPassphrase('another long passphrase', box)).rejects.toThrow(/does not open it/);
    const changed = { ...box, ciphertext: Buffer.from('tampered!!').toString('base64') };
    await expect(openWithPassphrase('a long enough passphrase', changed)).rejects.toThrow(/does not open it/);
  });

  it('refuses a short passphrase, saying how long one must be', async () => {
    await expect(lockWithPassphrase('short', Buffer.from('x'))).rejects.toThrow(/at least 12 characters/);
  });

  it('refuses an unknown format or an absurd cost before deriving anything', async () => {
    const box = await lockWithPassphrase('a long enough passphrase', Buffer.from('x'));
    await expect(
      openWithPassphrase('a long enough passphrase', { ...box, kdf: { ...box.kdf, N: 2 ** 30 } }),
    ).rejects.toThrow(/unknown format/);
  });
});
