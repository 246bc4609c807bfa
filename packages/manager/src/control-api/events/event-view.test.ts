import type { FlotillaEvent } from '@flotilla/events';
import { describe, expect, it } from 'vitest';
import { clusterEvent, type EventFilter, eventKind, matchesFilter } from './event-view.js';

const at = 1_700_000_000_000;
const created: FlotillaEvent = {
  type: 'service.changed',
  serviceId: 'svc123',
  serviceName: 'web_app',
  action: 'created',
  version: 1,
  replicas: 3,
  at,
};
const failed: FlotillaEvent = {
  type: 'task.state',
  taskId: 't1',
  serviceId: 'svc123',
  nodeId: 'node9',
  from: 'running',
  to: 'failed',
  message: 'exited',
  serviceName: 'web_app',
  slot: 2,
  exitCode: 1,
  at,
};
const drained: FlotillaEvent = {
  type: 'node.availability',
  nodeId: 'node9',
  hostname: 'host-1',
  availability: 'drain',
  at,
};
const leader: FlotillaEvent = { type: 'leader.changed', leaderId: 'm2', previousId: '', at };

function filter(over: Partial<EventFilter> = {}): EventFilter {
  return { kinds: new Set(), services: [], nodes: [], nodeIds: new Set(), ...over };
}

describe('clusterEvent', () => {
  it('shapes a service event like docker: type, action, actor, attributes', () => {
    expect(clusterEvent({ id: '5-0', event: created })).toEqual({
      id: '5-0',
      atMs: BigInt(at),
      type: 'service',
      action: 'create',
      actorId: 'svc123',
      actorName: 'web_app',
      attributes: { version: '1', replicas: '3' },
    });
  });

  it('names a task by service and slot, with its node and exit code', () => {
    expect(clusterEvent({ id: '5-1', event: failed })).toMatchObject({
      type: 'task',
      action: 'failed',
      actorId: 't1',
      actorName: 'web_app.2',
      attributes: { node: 'node9', exitCode: '1', from: 'running', service: 'web_app', message: 'exited' },
    });
  });

  it('names node actions by what happened, and leaves empty attributes out', () => {
    expect(clusterEvent({ id: '1-0', event: drained })).toMatchObject({ type: 'node', action: 'drain' });
    expect(clusterEvent({ id: '1-0', event: leader })).toMatchObject({
      type: 'leader',
      action: 'change',
      attributes: {},
    });
    const rollback: FlotillaEvent = {
      type: 'service.update',
      serviceId: 's',
      state: 'rollback_completed',
      message: '',
      at,
    };
    expect(clusterEvent({ id: '1-0', event: rollback })).toMatchObject({
      action: 'rollback',
      attributes: { state: 'rollback_completed' },
    });
  });

  it('shows a CA rotation as a certificate event with the new CA fingerprint', () => {
    const started: FlotillaEvent = { type: 'certificate.ca-rotation', phase: 'started', fingerprint: 'ab12', at };
    expect(clusterEvent({ id: '2-0', event: started })).toMatchObject({
      type: 'certificate',
      action: 'ca-rotate',
      actorId: 'ab12',
      attributes: { phase: 'started' },
    });
    const finished: FlotillaEvent = { ...started, phase: 'finished' };
    expect(clusterEvent({ id: '2-1', event: finished })).toMatchObject({ action: 'ca-rotated' });
  });
});

describe('matchesFilter', () => {
  it('matches every event without filters', () => {
    for (const e of [created, failed, drained, leader]) expect(matchesFilter(e, filter())).toBe(true);
  });

  it('keeps only the kinds asked for', () => {
    const f = filter({ kinds: new Set(['service', 'leader']) });
    expect([created, failed, drained, leader].filter((e) => matchesFilter(e, f)).map(eventKind)).toEqual([
      'service',
      'leader',
    ]);
  });

  it('matches services by name, ID or ID prefix, and leaves out events of no service', () => {
    for (const ref of ['web_app', 'svc123', 'svc']) {
      expect(matchesFilter(failed, filter({ services: [ref] }))).toBe(true);
    }
    expect(matchesFilter(failed, filter({ services: ['other'] }))).toBe(false);
    expect(matchesFilter(drained, filter({ services: ['web_app'] }))).toBe(false);
  });

  it("matches nodes by hostname, ID or prefix, and task events by their node's resolved ID", () => {
    expect(matchesFilter(drained, filter({ nodes: ['host-1'] }))).toBe(true);
    expect(matchesFilter(failed, filter({ nodes: ['node'] }))).toBe(true);
    expect(matchesFilter(failed, filter({ nodes: ['host-1'] }))).toBe(false);
    expect(matchesFilter(failed, filter({ nodes: ['host-1'], nodeIds: new Set(['node9']) }))).toBe(true);
    expect(matchesFilter(created, filter({ nodes: ['host-1'] }))).toBe(false);
  });

  it('needs every kind of filter to match', () => {
    expect(matchesFilter(failed, filter({ kinds: new Set(['task']), services: ['web_app'], nodes: ['node9'] }))).toBe(
      true,
    );
    expect(matchesFilter(failed, filter({ kinds: new Set(['service']), services: ['web_app'] }))).toBe(false);
  });
});
