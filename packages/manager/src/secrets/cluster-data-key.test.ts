import { Cluster } from '@flotilla/api';
import { CertificateAuthority, seal } from '@flotilla/pki';
import { describe, expect, it } from 'vitest';
import { heldCaKeys, NEW_CA_KEY_PURPOSE, openDataKey } from './cluster-data-key.js';
import { DataKey } from './data-key.js';

describe("the cluster's data key through a CA rotation", () => {
  it("opens with the rotation's new key (sealed with the manager's own) as well as with its own", async () => {
    const { keyPem: old } = await CertificateAuthority.create('c');
    const { keyPem: next } = await CertificateAuthority.create('c');
    const { keyPem: stranger } = await CertificateAuthority.create('other');
    const key = DataKey.generate();
    const sample = key.seal('id', Buffer.from('pw'));
    const rotating = Cluster.fromPartial({ caRotation: { sealedNewCaKey: seal(old, NEW_CA_KEY_PURPOSE, next) } });
    const held = heldCaKeys(rotating, old);
    expect(held).toEqual([old, next]);
    // Before the rotation ends (sealed with the old key) and after (sealed again with the new one).
    for (const sealed of [key.sealWith(old), key.sealWith(next)]) {
      expect(openDataKey(sealed, held).open('id', sample).toString()).toBe('pw');
    }
    // Without a rotation, only its own key; a key of another cluster opens nothing.
    expect(heldCaKeys(Cluster.fromPartial({}), old)).toEqual([old]);
    expect(() => openDataKey(key.sealWith(next), [old])).toThrow(/does not open with this manager's CA key/);
    expect(heldCaKeys(rotating, stranger)).toEqual([stranger]);
    expect(() => openDataKey(key.sealWith(old), heldCaKeys(rotating, stranger))).toThrow(/does not open/);
  });
});
