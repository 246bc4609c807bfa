import { describe, expect, it } from 'vitest';
import { etcdWarnings } from './etcd-warnings.js';

describe('etcdWarnings', () => {
  it('warns of plaintext endpoints, naming them and the flags to use', () => {
    const [warning, ...more] = etcdWarnings({ endpoints: ['http://127.0.0.1:2379', 'https://10.0.0.2:2379'] });
    expect(more).toEqual([]);
    expect(warning).toContain('plaintext (http://127.0.0.1:2379)');
    expect(warning).toContain('--etcd-cacert, --etcd-cert and --etcd-key');
  });

  it('warns of TLS without a client certificate', () => {
    const warnings = etcdWarnings({ endpoints: ['https://10.0.0.2:2379'], tls: { caFile: '/ca.pem' } });
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain('without a client certificate');
  });

  it('says nothing with TLS and a client certificate', () => {
    const tls = { caFile: '/ca.pem', certFile: '/c.pem', keyFile: '/k.pem' };
    expect(etcdWarnings({ endpoints: ['HTTPS://10.0.0.2:2379'], tls })).toEqual([]);
  });
});
