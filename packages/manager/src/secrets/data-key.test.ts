import { FileObjectKind } from '@flotilla/api';
import { CertificateAuthority } from '@flotilla/pki';
import { describe, expect, it } from 'vitest';
import { DataKey, fileObjectView, MAX_FILE_OBJECT_BYTES, sealFileObject } from './data-key.js';

describe('DataKey', () => {
  it('opens what it sealed for the same ID only; another key or a changed byte is refused', () => {
    const key = DataKey.generate();
    const sealed = key.seal('a', Buffer.from('hunter2'));
    expect(sealed.includes(Buffer.from('hunter2'))).toBe(false);
    expect(key.open('a', sealed).toString()).toBe('hunter2');
    expect(() => key.open('b', sealed)).toThrow(/does not open/);
    expect(() => DataKey.generate().open('a', sealed)).toThrow(/does not open/);
    const changed = Buffer.from(sealed);
    changed[14] = (changed[14] as number) ^ 1;
    expect(() => key.open('a', changed)).toThrow(/does not open/);
    expect(() => key.open('a', Buffer.alloc(3))).toThrow(/does not open/);
  });

  it('is sealed with the CA key and opens with that key alone', async () => {
    const { keyPem } = await CertificateAuthority.create('c1');
    const { keyPem: other } = await CertificateAuthority.create('c2');
    const key = DataKey.generate();
    const sealed = key.sealWith(keyPem);
    const opened = DataKey.unsealWith(keyPem, sealed);
    expect(opened.open('x', key.seal('x', Buffer.from('v'))).toString()).toBe('v');
    expect(() => DataKey.unsealWith(other, sealed)).toThrow();
  });

  it('gives equal MACs for equal contents, others for others, and none without the key', () => {
    const key = DataKey.generate();
    expect(key.mac(Buffer.from('a')).equals(key.mac(Buffer.from('a')))).toBe(true);
    expect(key.mac(Buffer.from('a')).equals(key.mac(Buffer.from('b')))).toBe(false);
    expect(key.mac(Buffer.from('a')).equals(DataKey.generate().mac(Buffer.from('a')))).toBe(false);
  });
});

describe('sealFileObject', () => {
  const key = DataKey.generate();
  const base = { id: 'id1', kind: FileObjectKind.FILE_OBJECT_KIND_SECRET, name: 's_db', version: 1n };

  it('stores no plaintext, and its view shows none either', () => {
    const o = sealFileObject(key, { ...base, content: Buffer.from('topsecretpassword') });
    expect(o.size).toBe(17);
    expect(key.open('id1', o.sealed).toString()).toBe('topsecretpassword');
    const view = JSON.stringify(fileObjectView(o, ['s_web']), (_k, v) => (typeof v === 'bigint' ? String(v) : v));
    expect(view).not.toContain('topsecret');
    expect(view).toContain('s_web');
  });

  it('refuses more than 500 KiB, naming the object and not its content', () => {
    expect(() => sealFileObject(key, { ...base, content: Buffer.alloc(MAX_FILE_OBJECT_BYTES + 1, 'q') })).toThrow(
      /s_db: 512001 bytes is more than/,
    );
    expect(sealFileObject(key, { ...base, content: Buffer.alloc(MAX_FILE_OBJECT_BYTES) }).size).toBe(
      MAX_FILE_OBJECT_BYTES,
    );
  });
});
