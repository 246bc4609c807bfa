import {
  ADMISSION_REFUSED,
  admissionRefusals,
  FlotillaError,
  NodeSpec_Role,
  ClusterSettings_SecurityProfile as Profile,
  type UpdateServiceRequest,
} from '@flotilla/api';
import { loadStackText, toStackSpec } from '@flotilla/stack';
import { CLUSTER_KEY, type Kind, type ObjectOf, Store, type Versioned } from '@flotilla/store';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestCluster, type TestCluster } from '../../../test/test-cluster.js';
import { handle, invoke } from '../direct-call.test-helpers.js';
import { serviceControl } from '../services.js';
import { deployStack } from '../stacks.js';

// Time-of-check/time-of-use: the admission policy read by a deploy (or a service update or rollback) may change
// before the write's transaction. A real manager and etcd; the writes under test run on a store that lets a change
// land right after the policy was read, made through the control API as `cluster update` makes it.
let cluster: TestCluster;

/**
 * The store, with `meanwhile` run right after each read of the admission policy (the read of the policy's key,
 * or of the Cluster object that held it before), before the reader goes on with what it read. With `anyRead`, after
 * every read of either, whatever it found.
 */
class Interposed extends Store {
  policyReads = 0;
  constructor(
    private readonly meanwhile: (read: number) => Promise<void>,
    private readonly anyRead = false,
  ) {
    super(cluster.manager.store.client);
  }
  override async get<K extends Kind>(kind: K, id: string): Promise<Versioned<ObjectOf<K>> | undefined> {
    const got = await super.get(kind, id);
    // The policy is read from its key when present, else from the Cluster object: one policy read either way.
    const policy =
      kind === 'admission'
        ? this.anyRead || got !== undefined
        : kind === 'clusters' && (this.anyRead || !(await super.get('admission', id)));
    if (policy) await this.meanwhile(++this.policyReads);
    return got;
  }
}

const profile = (securityProfile: Profile) => cluster.rpc(cluster.control.updateCluster, { securityProfile });
/** Tightens the policy to baseline on the first read only. */
const tightenOnce = () =>
  new Interposed(async (read) => (read === 1 ? void (await profile(Profile.SECURITY_PROFILE_BASELINE)) : undefined));

const stackOf = (yaml: string, name: string) => toStackSpec(loadStackText(yaml).stack, name);
const PRIVILEGED = (image: string) => `services:\n  app:\n    image: ${image}\n    privileged: true\n`;
const PLAIN = (image: string) => `services:\n  app:\n    image: ${image}\n`;

async function refusal(pending: Promise<unknown>): Promise<FlotillaError> {
  const err = await pending.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(FlotillaError);
  return err as FlotillaError;
}

async function service(name: string) {
  return (await cluster.manager.store.list('services')).items.find((s) => s.value.spec?.annotations?.name === name);
}

const update = (name: string, image: string): UpdateServiceRequest => ({
  service: name,
  image,
  envAdd: [],
  envRm: [],
  force: false,
});

beforeAll(async () => {
  cluster = await startTestCluster('admission-race');
  // Writes go to the leader, and the manager may be up before its first election is over: wait for it to lead.
  for (const started = Date.now(); !cluster.manager.controlPlane.leading(); ) {
    if (Date.now() - started > 20_000) throw new Error('the test manager did not lead within 20 s');
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
});

afterAll(async () => {
  await cluster?.stop();
});

describe('a policy changed between admission and the write', () => {
  it('refuses a deploy judged under a policy tightened before its transaction, and writes nothing', async () => {
    await profile(Profile.SECURITY_PROFILE_PRIVILEGED);
    const store = tightenOnce();
    const err = await refusal(deployStack(store, stackOf(PRIVILEGED('app:1'), 'race'), false));
    expect(err.reason).toBe(ADMISSION_REFUSED);
    expect(admissionRefusals(err).map((r) => r.path)).toEqual(['services.app.privileged']);
    expect(err.message).toContain('the deploy of stack race');
    // Judged again, under the policy that stands.
    expect(store.policyReads).toBe(2);
    expect(await service('race_app')).toBeUndefined();
    expect(
      (await cluster.manager.store.list('networks')).items.map((n) => n.value.spec?.annotations?.name),
    ).not.toContain('race_default');
  });

  it('refuses a service update judged under a policy tightened before its write, and leaves the service as it was', async () => {
    await profile(Profile.SECURITY_PROFILE_PRIVILEGED);
    await deployStack(cluster.manager.store, stackOf(PRIVILEGED('upd:1'), 'upd'), false);
    const before = await service('upd_app');
    const controls = serviceControl(tightenOnce(), handle);
    const err = await refusal(invoke(controls.updateService, update('upd_app', 'upd:2')));
    expect(err.reason).toBe(ADMISSION_REFUSED);
    // The spec and its version as they were (the orchestrator may have written the service's status meanwhile).
    const after = await service('upd_app');
    expect([after?.value.spec, after?.value.specVersion]).toEqual([before?.value.spec, before?.value.specVersion]);
  });

  it('refuses a rollback judged under a policy tightened before its write, and leaves the service as it was', async () => {
    await profile(Profile.SECURITY_PROFILE_PRIVILEGED);
    // Privileged first, then not: the previous spec a rollback returns to is the privileged one.
    await deployStack(cluster.manager.store, stackOf(PRIVILEGED('rb:1'), 'rb'), false);
    await deployStack(cluster.manager.store, stackOf(PLAIN('rb:2'), 'rb'), false);
    const before = await service('rb_app');
    expect(before?.value.previousSpec?.container?.privileged).toBe(true);
    const controls = serviceControl(tightenOnce(), handle);
    const err = await refusal(invoke(controls.rollbackService, { service: 'rb_app' }));
    expect(err.reason).toBe(ADMISSION_REFUSED);
    // The spec and its version as they were (the orchestrator may have written the service's status meanwhile).
    const after = await service('rb_app');
    expect([after?.value.spec, after?.value.specVersion]).toEqual([before?.value.spec, before?.value.specVersion]);
  });

  it('gives up with a clear error when the policy changes each time the deploy is judged', async () => {
    // A new allowed prefix at each read: the policy changes, the deploy (admitted under each) is judged again.
    const store = new Interposed(async (read) => {
      await cluster.rpc(cluster.control.updateCluster, { allowedBindPrefixes: { prefixes: [`/srv/${read}`] } });
    });
    const err = await refusal(deployStack(store, stackOf(PLAIN('busy:1'), 'busy'), false));
    expect(err.reason).toBe('conflict');
    expect(err.message).toMatch(
      /the deploy of stack busy was not applied: .*changed each of the \d+ times.*run it again/,
    );
    expect(store.policyReads).toBeGreaterThan(1);
    expect(await service('busy_app')).toBeUndefined();
  });
});

describe('writes to the Cluster object that leave the policy alone', () => {
  it('do not fail a deploy or make it judge again: a join-token rotation during each read of the policy', async () => {
    await profile(Profile.SECURITY_PROFILE_PRIVILEGED);
    const versions: bigint[] = [];
    const clusterVersion = async () => (await cluster.manager.store.get('clusters', CLUSTER_KEY))?.version ?? 0n;
    // After every read of the policy or the Cluster object: a deploy that required the Cluster object unchanged
    // would conflict each time it tried.
    const store = new Interposed(async () => {
      versions.push(await clusterVersion());
      await cluster.rpc(cluster.control.getJoinToken, { role: NodeSpec_Role.ROLE_WORKER, rotate: true });
      versions.push(await clusterVersion());
    }, true);
    const changes = await deployStack(store, stackOf(PRIVILEGED('calm:1'), 'calm'), false);
    expect(changes.map((c) => c.name)).toEqual(['calm_app']);
    expect(store.policyReads).toBe(1);
    // The Cluster object did change while the deploy was under way.
    expect(versions[1]).toBeGreaterThan(versions[0] ?? 0n);
    expect((await service('calm_app'))?.value.spec?.container?.privileged).toBe(true);
  });
});

describe('a cluster whose policy is only in its Cluster object (made before the policy had a key)', () => {
  /** The policy as an older manager left it: in ClusterSettings, with no key of its own. */
  async function legacyPolicy(securityProfile: Profile, allowedBindPrefixes: string[] = []) {
    const store = cluster.manager.store;
    const own = await store.get('admission', CLUSTER_KEY);
    if (own) await store.delete('admission', CLUSTER_KEY, own.version);
    await store.modify('clusters', CLUSTER_KEY, (c) => ({
      ...c,
      settings: { ...(c.settings as NonNullable<typeof c.settings>), securityProfile, allowedBindPrefixes },
    }));
  }

  it('keeps its policy: admission and cluster inspect go by the Cluster object until the first update', async () => {
    await legacyPolicy(Profile.SECURITY_PROFILE_RESTRICTED, ['/srv']);
    const { settings } = await cluster.rpc(cluster.control.getCluster, {});
    expect(settings).toMatchObject({
      securityProfile: Profile.SECURITY_PROFILE_RESTRICTED,
      allowedBindPrefixes: ['/srv'],
    });
    // Restricted: a root user is refused (a privileged default would have let it through).
    const err = await refusal(deployStack(cluster.manager.store, stackOf(PLAIN('old:1'), 'old'), false));
    expect(err.reason).toBe(ADMISSION_REFUSED);
    expect(await service('old_app')).toBeUndefined();

    // The first update writes the key, keeping what it does not change.
    await cluster.rpc(cluster.control.updateCluster, { securityProfile: Profile.SECURITY_PROFILE_PRIVILEGED });
    const own = await cluster.manager.store.get('admission', CLUSTER_KEY);
    expect(own?.value).toEqual({ securityProfile: Profile.SECURITY_PROFILE_PRIVILEGED, allowedBindPrefixes: ['/srv'] });
    // The Cluster object's copy follows.
    const copy = (await cluster.manager.store.get('clusters', CLUSTER_KEY))?.value.settings;
    expect(copy).toMatchObject({ securityProfile: Profile.SECURITY_PROFILE_PRIVILEGED, allowedBindPrefixes: ['/srv'] });
    await deployStack(cluster.manager.store, stackOf(PLAIN('old:1'), 'old'), false);
    expect(await service('old_app')).toBeDefined();
  });

  it('refuses a deploy judged by the Cluster object when an update tightens the policy before its transaction', async () => {
    await legacyPolicy(Profile.SECURITY_PROFILE_PRIVILEGED);
    const store = tightenOnce();
    const err = await refusal(deployStack(store, stackOf(PRIVILEGED('leg:1'), 'leg'), false));
    expect(err.reason).toBe(ADMISSION_REFUSED);
    expect(store.policyReads).toBe(2);
    expect(await service('leg_app')).toBeUndefined();
  });
});
