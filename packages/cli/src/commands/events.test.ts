import { ClusterEvent, FlotillaError } from '@flotilla/api';
import { describe, expect, it } from 'vitest';
import { main } from '../index.js';
import type { Io } from '../io.js';
import { eventJson, eventsRequest, formatEvent, parseFilters } from './events.js';

const at = Date.UTC(2026, 11, 6, 10, 0, 0);
const update = ClusterEvent.fromPartial({
  id: '1765015200000-0',
  atMs: BigInt(at),
  type: 'service',
  action: 'update',
  actorId: 'svc123',
  actorName: 'web_app',
  attributes: { version: '3' },
});

function usage(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(FlotillaError);
    expect((err as FlotillaError).reason).toBe('usage');
    return (err as FlotillaError).message;
  }
  throw new Error('expected a usage error');
}

describe('events --filter', () => {
  it('takes docker-style key=value filters, repeated', () => {
    expect(parseFilters(['type=service', 'type=task', 'service=web_app', 'node=host-1'])).toEqual({
      types: ['service', 'task'],
      services: ['web_app'],
      nodes: ['host-1'],
    });
    expect(parseFilters([])).toEqual({ types: [], services: [], nodes: [] });
  });

  it('refuses what it cannot read, saying what it takes', () => {
    expect(usage(() => parseFilters(['service']))).toContain('key=value');
    expect(usage(() => parseFilters(['type=']))).toContain('key=value');
    expect(usage(() => parseFilters(['type=container']))).toContain('service, task, node, leader');
    expect(usage(() => parseFilters(['image=nginx']))).toContain('type, service, node');
  });
});

describe('events --since and --until', () => {
  const now = Date.UTC(2026, 11, 6, 12, 0, 0);

  it('takes durations before now and RFC 3339 times', () => {
    expect(eventsRequest({ since: '10m', until: '2026-12-06T11:55:00Z' }, now)).toMatchObject({
      sinceMs: BigInt(now - 600_000),
      untilMs: BigInt(Date.UTC(2026, 11, 6, 11, 55)),
    });
    expect(eventsRequest({}, now)).toEqual({ sinceMs: 0n, untilMs: 0n, types: [], services: [], nodes: [] });
  });

  it('names the flag that is wrong, and refuses an until before the since', () => {
    expect(usage(() => eventsRequest({ since: 'yesterday' }, now))).toContain('--since takes');
    expect(usage(() => eventsRequest({ until: 'soon' }, now))).toContain('--until takes');
    expect(usage(() => eventsRequest({ since: '5m', until: '10m' }, now))).toContain('before --since');
  });
});

describe('events output', () => {
  it('prints a line like docker events', () => {
    expect(formatEvent(update)).toBe('2026-12-06T10:00:00.000Z service update web_app (version=3)');
    const task = ClusterEvent.fromPartial({
      atMs: BigInt(at),
      type: 'task',
      action: 'failed',
      actorId: 't1',
      actorName: 'web_app.2',
      attributes: { node: 'n1', exitCode: '137' },
    });
    expect(formatEvent(task)).toBe('2026-12-06T10:00:00.000Z task failed web_app.2 (node=n1, exitCode=137)');
    const leader = ClusterEvent.fromPartial({ atMs: BigInt(at), type: 'leader', action: 'change', actorId: 'm2' });
    expect(formatEvent(leader)).toBe('2026-12-06T10:00:00.000Z leader change m2');
  });

  it('prints JSON in the shape of docker events --format json', () => {
    expect(JSON.parse(JSON.stringify(eventJson(update)))).toEqual({
      id: '1765015200000-0',
      Type: 'service',
      Action: 'update',
      Actor: { ID: 'svc123', Attributes: { name: 'web_app', version: '3' } },
      time: at / 1000,
      timeNano: at * 1_000_000,
      timeString: '2026-12-06T10:00:00.000Z',
    });
  });
});

describe('flotilla events', () => {
  async function run(...args: string[]) {
    let err = '';
    const io: Io = { out: () => undefined, err: (t) => (err += t), env: {} };
    const code = await main(['node', 'flotilla', 'events', ...args], io);
    return { code, err };
  }

  it('exits 2 on bad flags before it calls a manager', async () => {
    expect(await run('--filter', 'colour=red')).toMatchObject({ code: 2, err: expect.stringContaining('--filter') });
    expect(await run('--since', 'whenever')).toMatchObject({ code: 2, err: expect.stringContaining('--since') });
    expect((await run('--format', 'yaml')).code).toBe(2);
  });
});
