import { loadStackText, toStackSpec } from '@flotilla/stack';
import { type Kind, type ObjectOf, Store, type Versioned } from '@flotilla/store';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestCluster, type TestCluster } from '../../test/test-cluster.js';
import { CONFLICT_ATTEMPTS } from './conflict-retry.js';
import { handle, invoke } from './direct-call.test-helpers.js';
import { serviceControl } from './services.js';
import { deployStack, stackControl } from './stacks.js';

// `stack rm` and `service rm` while the leader's loops write the services (addresses, ports, update status): a
// write landing between the removal's read and its transaction must not fail the removal, nor make it remove more
// or less than it was asked to. A real manager and etcd; the removal runs on a store that lets such a write land
// right after each read of the services.
let cluster: TestCluster;

/** Writes to the service named `touched` after reads of services: after the first only, or after every one. */
class Interposed extends Store {
  touches = 0;
  constructor(
    private readonly touched: string,
    private readonly every = false,
  ) {
    super(cluster.manager.store.client);
  }
  override async list<K extends Kind>(kind: K): Promise<{ items: Versioned<ObjectOf<K>>[]; revision: bigint }> {
    const read = await super.list(kind);
    if (kind === 'services') await this.touch();
    return read;
  }
  override async get<K extends Kind>(kind: K, id: string): Promise<Versioned<ObjectOf<K>> | undefined> {
    const read = await super.get(kind, id);
    if (kind === 'services') await this.touch();
    return read;
  }
  /** What the allocator does to a new service: a write that changes its version and nothing the user declared. */
  private async touch(): Promise<void> {
    if (this.touches > 0 && !this.every) return;
    this.touches++;
    const store = cluster.manager.store;
    const found = (await store.list('services')).items.find((s) => s.value.spec?.annotations?.name === this.touched);
    if (found)
      await store.update('services', found.id, { ...found.value, updatedAtMs: BigInt(Date.now()) }, found.version);
  }
}

const stackOf = (name: string) =>
  toStackSpec(
    loadStackText('services:\n  api:\n    image: registry.invalid/api:1\n    networks: [back]\nnetworks:\n  back: {}\n')
      .stack,
    name,
  );

async function names(kind: 'services' | 'networks'): Promise<string[]> {
  return (await cluster.manager.store.list(kind)).items.map((i) => i.value.spec?.annotations?.name ?? '');
}

beforeAll(async () => {
  cluster = await startTestCluster('remove-race');
  for (const started = Date.now(); !cluster.manager.controlPlane.leading(); ) {
    if (Date.now() - started > 20_000) throw new Error('the test manager did not lead within 20 s');
    await new Promise((r) => setTimeout(r, 50));
  }
});

afterAll(async () => {
  await cluster?.stop();
});

describe('removals that meet a write of the leader in between', () => {
  it('stack rm reads again and removes the stack, its own network, and nothing of another stack', async () => {
    await deployStack(cluster.manager.store, stackOf('gone'), false);
    await deployStack(cluster.manager.store, stackOf('kept'), false);
    const store = new Interposed('gone_api');
    const removed = await invoke(stackControl(store, handle).removeStack, { name: 'gone' });
    expect(removed.removed).toEqual(['gone_api']);
    expect(store.touches).toBe(1);
    expect(await names('services')).not.toContain('gone_api');
    expect(await names('services')).toContain('kept_api');
    expect(await names('networks')).not.toContain('gone_back');
    expect(await names('networks')).toContain('kept_back');
  });

  it('service rm reads again and removes the service, and only it', async () => {
    await deployStack(cluster.manager.store, stackOf('solo'), false);
    const store = new Interposed('solo_api');
    await invoke(serviceControl(store, handle).removeService, { service: 'solo_api' });
    expect(store.touches).toBe(1);
    expect(await names('services')).not.toContain('solo_api');
    expect(await names('services')).toContain('kept_api');
  });

  it('gives up after a bounded number of tries on a service that never stops changing, removing nothing', async () => {
    await deployStack(cluster.manager.store, stackOf('busy'), false);
    const store = new Interposed('busy_api', true);
    await expect(invoke(stackControl(store, handle).removeStack, { name: 'busy' })).rejects.toThrow(
      /stack busy kept changing while it was removed \(5 tries\); nothing was removed: run it again/,
    );
    expect(store.touches).toBeGreaterThanOrEqual(CONFLICT_ATTEMPTS);
    expect(await names('services')).toContain('busy_api');
    expect(await names('networks')).toContain('busy_back');
  });
});
