import { describe, expect, it } from 'vitest';
import { logPolicy, syslogAddress } from './log-driver.js';

const policy = (name: string, options: Record<string, string> = {}) => logPolicy({ name, options }).policy;

describe('logPolicy', () => {
  it('json-file keeps max-size × max-file bytes; no max-size: only the node cap', () => {
    expect(policy('json-file', { 'max-size': '10m', 'max-file': '3' })).toEqual({
      keep: true,
      maxBytes: 30 * 1024 ** 2,
    });
    expect(policy('json-file', { 'max-size': '1.5k' })).toEqual({ keep: true, maxBytes: 1536 });
    expect(policy('json-file', { 'max-size': '-1' })).toEqual({ keep: true });
    expect(policy('')).toEqual({ keep: true });
  });

  it('local defaults to 20m × 5, as Docker', () => {
    expect(policy('local')).toEqual({ keep: true, maxBytes: 100 * 1024 ** 2 });
    expect(policy('local', { 'max-file': '2' })).toEqual({ keep: true, maxBytes: 40 * 1024 ** 2 });
  });

  it('none keeps nothing; an unknown driver keeps everything and says why', () => {
    expect(policy('none')).toEqual({ keep: false });
    const gelf = logPolicy({ name: 'gelf', options: {} });
    expect(gelf.policy).toEqual({ keep: true });
    expect(gelf.problems).toEqual([
      expect.objectContaining({ severity: 'warning', message: expect.stringMatching(/gelf/) }),
    ]);
  });

  it('syslog ships to its address, user facility and rfc5424 unless told, and keeps the lines too', () => {
    expect(policy('syslog', { 'syslog-address': 'udp://127.0.0.1:5514' })).toEqual({
      keep: true,
      syslog: {
        protocol: 'udp',
        host: '127.0.0.1',
        port: 5514,
        path: '',
        facility: 1,
        format: 'rfc5424',
        tag: '{{.ID}}',
      },
    });
    const s = policy('syslog', {
      'syslog-address': 'tcp://[::1]',
      'syslog-facility': 'local3',
      'syslog-format': 'rfc3164',
      tag: 'web',
    }).syslog;
    expect(s).toMatchObject({ protocol: 'tcp', host: '::1', port: 514, facility: 19, format: 'rfc3164', tag: 'web' });
  });

  it('what cannot be read is an error and ships nowhere', () => {
    const bad = logPolicy({ name: 'syslog', options: { 'syslog-address': 'udp://h:99999' } });
    expect(bad.policy).toEqual({ keep: true });
    expect(bad.problems).toEqual([expect.objectContaining({ severity: 'error', option: 'syslog-address' })]);
    expect(syslogAddress('unix://relative')).toMatch(/unix:\/\/\/absolute/);
    expect(syslogAddress('unix:///dev/log')).toEqual({ protocol: 'unix', host: '', port: 0, path: '/dev/log' });
  });
});
