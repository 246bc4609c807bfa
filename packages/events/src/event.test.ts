import { FlotillaError } from '@flotilla/api';
import { describe, expect, it } from 'vitest';
import { decodeEntry, EVENT_FIELD, EVENT_TYPES, encodeEvent, type FlotillaEvent, validateEvent } from './event.js';

const at = 1_700_000_000_000;
const samples: FlotillaEvent[] = [
  {
    type: 'task.state',
    taskId: 't1',
    serviceId: 's1',
    nodeId: '',
    from: 'pending',
    to: 'assigned',
    message: 'scheduled',
    at,
  },
  { type: 'service.changed', serviceId: 's1', serviceName: 'web', action: 'updated', version: 3, at },
  { type: 'service.update', serviceId: 's1', state: 'updating', updated: 2, total: 5, message: '', at },
  { type: 'node.up', nodeId: 'n1', hostname: 'host-1', address: '198.18.0.2', at },
  { type: 'node.down', nodeId: 'n1', hostname: 'host-1', reason: 'heartbeat missed', at },
  { type: 'leader.changed', leaderId: 'm2', previousId: 'm1', at },
  { type: 'node.availability', nodeId: 'n1', hostname: 'host-1', availability: 'drain', at },
  {
    type: 'task.state',
    taskId: 't2',
    serviceId: 's1',
    nodeId: 'n1',
    from: 'running',
    to: 'failed',
    message: 'exited',
    serviceName: 'web',
    slot: 2,
    exitCode: -1,
    at,
  },
  { type: 'node.down', nodeId: 'n1', hostname: 'host-1', reason: 'no heartbeat', state: 'unknown', at },
  { type: 'certificate.renewed', nodeId: 'n1', role: 'worker', expiresAt: at + 60_000, at },
  { type: 'certificate.revoked', subjectId: 'op1', role: 'operator', reason: 'operator revoked', at },
  { type: 'certificate.ca-rotation', phase: 'started', fingerprint: 'ab12', at },
];

function malformed(fn: () => unknown): FlotillaError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(FlotillaError);
    expect((err as FlotillaError).reason).toBe('malformed');
    return err as FlotillaError;
  }
  throw new Error('expected a malformed-event error');
}

describe('event encoding', () => {
  it('has a sample of every event type', () => {
    expect(new Set(samples.map((e) => e.type))).toEqual(new Set(EVENT_TYPES));
  });

  it.each(samples)('round-trips $type through a stream entry', (event) => {
    const fields = [EVENT_FIELD, encodeEvent(event)];
    expect(decodeEntry(fields)).toEqual(event);
  });

  it('finds the event field among other fields', () => {
    const event = samples[0] as FlotillaEvent;
    expect(decodeEntry(['other', 'x', EVENT_FIELD, encodeEvent(event)])).toEqual(event);
  });

  it('drops fields a type does not have, so newer writers do not leak into older readers', () => {
    const json = JSON.stringify({ ...samples[3], extra: 'x', nested: { a: 1 } });
    expect(decodeEntry([EVENT_FIELD, json])).toEqual(samples[3]);
  });

  it.each([
    ['no event field', ['other', '{}']],
    ['no fields at all', []],
    ['a dangling field name', [EVENT_FIELD]],
    ['not JSON', [EVENT_FIELD, '{"type":']],
    ['JSON that is not an object', [EVENT_FIELD, '[1,2]']],
    ['JSON null', [EVENT_FIELD, 'null']],
    ['no type', [EVENT_FIELD, '{"taskId":"t"}']],
    ['an unknown type', [EVENT_FIELD, '{"type":"task.exploded","at":1}']],
    ['a prototype key as type', [EVENT_FIELD, '{"type":"constructor","at":1}']],
    ['a missing field', [EVENT_FIELD, JSON.stringify({ ...samples[0], message: undefined })]],
    ['an empty id', [EVENT_FIELD, JSON.stringify({ ...samples[0], taskId: '' })]],
    ['a state that does not exist', [EVENT_FIELD, JSON.stringify({ ...samples[0], to: 'exploded' })]],
    ['a number where text belongs', [EVENT_FIELD, JSON.stringify({ ...samples[4], reason: 42 })]],
    ['a negative count', [EVENT_FIELD, JSON.stringify({ ...samples[2], updated: -1 })]],
    ['a fractional count', [EVENT_FIELD, JSON.stringify({ ...samples[2], total: 1.5 })]],
    ['a time as a string', [EVENT_FIELD, JSON.stringify({ ...samples[5], at: '2024-01-01' })]],
  ])('rejects an entry with %s', (_name, fields) => {
    malformed(() => decodeEntry(fields as string[]));
  });

  it('decodes entries written before the optional fields existed, and checks those that are there', () => {
    const old = { type: 'service.update', serviceId: 's1', state: 'updating', message: '', at };
    expect(decodeEntry([EVENT_FIELD, JSON.stringify(old)])).toEqual(old);
    malformed(() => decodeEntry([EVENT_FIELD, JSON.stringify({ ...samples[7], exitCode: 1.5 })]));
    malformed(() => decodeEntry([EVENT_FIELD, JSON.stringify({ ...samples[8], state: 'exploded' })]));
    malformed(() => decodeEntry([EVENT_FIELD, JSON.stringify({ ...samples[7], serviceName: null })]));
  });

  it('says which field is wrong', () => {
    const err = malformed(() => decodeEntry([EVENT_FIELD, JSON.stringify({ ...samples[0], to: 'exploded' })]));
    expect(err.message).toContain('field to');
  });

  it('refuses to encode an invalid event', () => {
    malformed(() => encodeEvent({ ...(samples[1] as FlotillaEvent), version: -3 } as FlotillaEvent));
    malformed(() => validateEvent('task.state'));
  });
});
