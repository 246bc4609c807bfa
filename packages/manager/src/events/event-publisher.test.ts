import { Service, ServiceMode } from '@flotilla/api';
import { connectRedis, EventLog } from '@flotilla/events';
import type { Logger } from '@flotilla/observability';
import type { ChangeSet } from '@flotilla/store';
import { freePort } from '@flotilla/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { EventPublisher, type PublishedInformers } from './event-publisher.js';

/** Informers as the publisher sees them: something to subscribe to, fed by the test. */
function fakeInformers() {
  const listeners: Record<string, ((set: ChangeSet<unknown>) => void)[]> = { services: [], tasks: [], nodes: [] };
  const informer = (kind: string) => ({
    subscribe(listener: (set: ChangeSet<unknown>) => void) {
      listeners[kind]?.push(listener);
      return () => {
        listeners[kind] = (listeners[kind] ?? []).filter((l) => l !== listener);
      };
    },
  });
  const informers = {
    services: informer('services'),
    tasks: informer('tasks'),
    nodes: informer('nodes'),
  } as unknown as PublishedInformers;
  const deliver = (kind: string, set: ChangeSet<unknown>) => {
    for (const l of listeners[kind] ?? []) l(set);
  };
  return { informers, deliver, listeners };
}

function recordingLogger() {
  const lines: { level: string; msg: string }[] = [];
  const at = (level: string) => (_obj: unknown, msg?: string) => lines.push({ level, msg: msg ?? String(_obj) });
  const logger = { warn: at('warn'), info: at('info'), error: at('error'), debug: at('debug') } as unknown as Logger;
  return { logger, lines };
}

const service = (i: number) =>
  Service.fromPartial({
    id: `s${i}`,
    specVersion: 1n,
    spec: { annotations: { name: `web${i}` }, mode: ServiceMode.SERVICE_MODE_REPLICATED, replicas: 1n },
  });

let log: EventLog | undefined;
afterEach(async () => {
  await log?.close({ timeoutMs: 100 });
});

describe('EventPublisher', () => {
  it('stays synchronous and bounded while Redis is away, and says once that events are dropped', async () => {
    // Nothing listens on this loopback port: every write fails, as with Redis down.
    const port = await freePort();
    log = new EventLog(connectRedis({ url: `redis://127.0.0.1:${port}`, connectTimeoutMs: 100 }), { maxBuffered: 3 });
    const { informers, deliver, listeners } = fakeInformers();
    const { logger, lines } = recordingLogger();
    const publisher = new EventPublisher(informers, {
      log,
      leaderId: 'm1',
      previousLeaderId: '',
      logger,
      now: () => 1_000,
    });
    publisher.start();
    for (let i = 0; i < 10; i++) {
      deliver('services', {
        revision: BigInt(i + 1),
        relisted: false,
        changes: [{ type: 'put', id: `s${i}`, value: service(i), version: 1n }],
      });
    }
    // The leader change and ten creations went in; all but the newest three were dropped, and counted.
    expect(log.stats()).toMatchObject({ emitted: 11, dropped: 8, connected: false });
    expect(lines.filter((l) => l.level === 'warn' && l.msg.includes('dropped'))).toHaveLength(1);

    publisher.stop();
    expect(Object.values(listeners).every((l) => l.length === 0)).toBe(true);
  });

  it('skips a change it cannot turn into events, and goes on with the next', () => {
    log = new EventLog(connectRedis({ url: 'redis://127.0.0.1:1', connectTimeoutMs: 100 }), { maxBuffered: 100 });
    const { informers, deliver } = fakeInformers();
    const { logger, lines } = recordingLogger();
    new EventPublisher(informers, { log, leaderId: 'm1', previousLeaderId: 'm0', logger }).start();
    deliver('services', {
      revision: 1n,
      relisted: false,
      changes: [
        {
          type: 'put',
          id: 'bad',
          value: {
            id: 'bad',
            get spec(): never {
              throw new Error('broken object');
            },
          } as unknown as Service,
          version: 1n,
        },
        { type: 'put', id: 's1', value: service(1), version: 1n },
      ],
    });
    expect(lines.filter((l) => l.level === 'error')).toHaveLength(1);
    expect(log.stats().emitted).toBe(2);
  });
});
