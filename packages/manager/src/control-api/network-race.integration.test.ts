import { NetworkSpec } from '@flotilla/api';
import { loadStackText, toStackSpec } from '@flotilla/stack';
import { type Kind, type ObjectOf, Store, type Versioned } from '@flotilla/store';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestCluster, type TestCluster } from '../../test/test-cluster.js';
import { handle, invoke } from './direct-call.test-helpers.js';
import { networkControl } from './networks.js';
import { deployStack } from './stacks.js';

// `network rm` and a deploy that joins the network as external, each landing between the other's read and
// write. A real manager and etcd; the call under test runs on a store that lets the other land right after its
// first read of `meanwhileAfter`.
let cluster: TestCluster;

class Interposed extends Store {
  private fired = false;
  constructor(
    private readonly meanwhileAfter: Kind,
    private readonly meanwhile: () => Promise<unknown>,
  ) {
    super(cluster.manager.store.client);
  }
  override async list<K extends Kind>(kind: K): Promise<{ items: Versioned<ObjectOf<K>>[]; revision: bigint }> {
    const read = await super.list(kind);
    if (kind === this.meanwhileAfter && !this.fired) {
      this.fired = true;
      await this.meanwhile();
    }
    return read;
  }
}

/** A stack of one service that joins `network` as external. */
const joiner = (stack: string, network: string) =>
  toStackSpec(
    loadStackText(
      `services:\n  api:\n    image: registry.invalid/api:1\n    networks: [shared]\n` +
        `networks:\n  shared:\n    external: true\n    name: ${network}\n`,
    ).stack,
    stack,
  );

const create = (name: string) =>
  cluster.rpc(cluster.control.createNetwork, { spec: NetworkSpec.fromPartial({ annotations: { name } }) });
const names = async (kind: 'networks' | 'services') =>
  (await cluster.manager.store.list(kind)).items.map((o) => o.value.spec?.annotations?.name);

beforeAll(async () => {
  cluster = await startTestCluster('network-race');
  for (const started = Date.now(); !cluster.manager.controlPlane.leading(); ) {
    if (Date.now() - started > 20_000) throw new Error('the test manager did not lead within 20 s');
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
});

afterAll(async () => {
  await cluster?.stop();
});

describe('network rm and a deploy that joins the network', () => {
  it('refuses the deploy when the network is removed after the deploy read it, writing nothing', async () => {
    await create('early');
    const store = new Interposed('networks', () => cluster.rpc(cluster.control.removeNetwork, { nameOrId: 'early' }));
    await expect(deployStack(store, joiner('late', 'early'), false)).rejects.toThrow(
      /network early is declared external but does not exist/,
    );
    expect(await names('networks')).not.toContain('early');
    expect(await names('services')).not.toContain('late_api');
  });

  it('refuses the removal, naming the service, when a deploy joins the network after rm read the services', async () => {
    await create('busy');
    const store = new Interposed('services', () => deployStack(cluster.manager.store, joiner('quick', 'busy'), false));
    const rm = invoke(networkControl(store, handle).removeNetwork, { nameOrId: 'busy' });
    await expect(rm).rejects.toThrow(/network busy is in use by quick_api/);
    expect(await names('networks')).toContain('busy');
    expect(await names('services')).toContain('quick_api');
  });
});
