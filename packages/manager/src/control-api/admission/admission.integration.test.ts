import {
  ADMISSION_REFUSED,
  admissionRefusals,
  Code,
  FlotillaError,
  ClusterSettings_SecurityProfile as Profile,
  ServiceChange_Action,
  StackSpec,
} from '@flotilla/api';
import { loadStackText, toStackSpec } from '@flotilla/stack';
import { Metadata, type ServiceError } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestCluster, type TestCluster } from '../../../test/test-cluster.js';

// The admission policy through a real manager and etcd: a refused deploy (or update) changes nothing in the
// store, a hand-made request gets no further than the CLI's, and a changed cluster setting lets it through.
let cluster: TestCluster;

type Unary<Req, Res> = (r: Req, m: Metadata, o: object, cb: (e: ServiceError | null, v: Res) => void) => unknown;

/** A control call whose refusal keeps its code and reason (the test cluster's rpc keeps only the message). */
function call<Req, Res>(method: Unary<Req, Res>, request: Req): Promise<Res> {
  return new Promise((resolve, reject) =>
    method.call(cluster.control, request, new Metadata(), { deadline: Date.now() + 10_000 }, (err, value) =>
      err ? reject(FlotillaError.from(err)) : resolve(value),
    ),
  );
}

async function refusal(pending: Promise<unknown>): Promise<FlotillaError> {
  const err = await pending.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(FlotillaError);
  return err as FlotillaError;
}

const FIRST = `
services:
  app:
    image: nginx:1.25
    volumes: [/srv/data:/data]
`;

const RISKY = `
services:
  app:
    image: nginx:1.27
    volumes: [/srv/data:/data]
  agent:
    image: monitor
    cap_add: [NET_ADMIN]
    pid: host
    volumes:
      - /etc/../etc:/host-etc:ro
`;

const stackOf = (yaml: string) => toStackSpec(loadStackText(yaml).stack, 'adm');

/** What a deploy could change: services and networks with their versions. */
async function stored() {
  const [services, networks] = await Promise.all([
    cluster.manager.store.list('services'),
    cluster.manager.store.list('networks'),
  ]);
  return { services: services.items, networks: networks.items };
}

beforeAll(async () => {
  cluster = await startTestCluster('admission');
  // Writes go to the leader, and the manager may be up before its first election is over: wait for it to lead.
  for (const started = Date.now(); !cluster.manager.controlPlane.leading(); ) {
    if (Date.now() - started > 20_000) throw new Error('the test manager did not lead within 20 s');
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  await call(cluster.control.deployStack, { stack: stackOf(FIRST), prune: false });
});

afterAll(async () => {
  await cluster?.stop();
});

describe('admission at deploy', () => {
  it('refuses a risky deploy under baseline (the default) and changes nothing, not even the admissible service', async () => {
    const before = await stored();
    const err = await refusal(call(cluster.control.deployStack, { stack: stackOf(RISKY), prune: true }));
    expect(err.code).toBe(Code.PermissionDenied);
    expect(err.reason).toBe(ADMISSION_REFUSED);
    expect(admissionRefusals(err).map((r) => r.path)).toEqual([
      'services.agent.cap_add[0]',
      'services.agent.pid',
      'services.agent.volumes[0]',
    ]);
    expect(await stored()).toEqual(before);
    expect(before.services.map((s) => s.value.spec?.container?.image)).toEqual(['nginx:1.25']);
  });

  it('refuses the dry run with the same list', async () => {
    const err = await refusal(call(cluster.control.planStack, { stack: stackOf(RISKY), prune: false }));
    expect(admissionRefusals(err)).toHaveLength(3);
  });

  it('refuses a hand-made request as well (the manager does not rely on the CLI)', async () => {
    const stack = StackSpec.fromPartial({
      name: 'raw',
      services: [{ annotations: { name: 'raw_x' }, stack: 'raw', container: { image: 'x', privileged: true } }],
    });
    const err = await refusal(call(cluster.control.deployStack, { stack, prune: false }));
    expect(admissionRefusals(err).map((r) => r.path)).toEqual(['services.x.privileged']);
    expect((await stored()).services.some((s) => s.value.spec?.stack === 'raw')).toBe(false);
  });

  it('admits it once the cluster settings allow each refusal', async () => {
    await call(cluster.control.updateCluster, { allowedBindPrefixes: { prefixes: ['/etc/'] } });
    const partly = await refusal(call(cluster.control.deployStack, { stack: stackOf(RISKY), prune: false }));
    expect(admissionRefusals(partly).map((r) => r.path)).toEqual(['services.agent.cap_add[0]', 'services.agent.pid']);

    const { settings } = await call(cluster.control.updateCluster, {
      securityProfile: Profile.SECURITY_PROFILE_PRIVILEGED,
    });
    expect(settings?.allowedBindPrefixes).toEqual(['/etc']);
    const { changes } = await call(cluster.control.deployStack, { stack: stackOf(RISKY), prune: false });
    expect(changes.map((c) => [c.name, ServiceChange_Action[c.action]])).toEqual([
      ['adm_app', 'ACTION_UPDATED'],
      ['adm_agent', 'ACTION_CREATED'],
    ]);
    const agent = (await stored()).services.find((s) => s.value.spec?.annotations?.name === 'adm_agent');
    expect(agent?.value.spec?.container).toMatchObject({ pidHost: true, capAdd: ['NET_ADMIN'] });
  });

  it('refuses an update of an admitted service once the profile is stricter, changing nothing', async () => {
    await call(cluster.control.updateCluster, { securityProfile: Profile.SECURITY_PROFILE_RESTRICTED });
    const before = await stored();
    const err = await refusal(
      call(cluster.control.updateService, {
        service: 'adm_agent',
        image: 'monitor:2',
        envAdd: [],
        envRm: [],
        force: false,
      }),
    );
    expect(err.reason).toBe(ADMISSION_REFUSED);
    expect(admissionRefusals(err).map((r) => r.path)).toEqual(
      expect.arrayContaining(['services.agent.pid', 'services.agent']),
    );
    expect(await stored()).toEqual(before);
  });

  it('clears the allowed prefixes with an empty list and refuses relative ones', async () => {
    const { settings } = await call(cluster.control.updateCluster, { allowedBindPrefixes: { prefixes: [] } });
    expect(settings?.allowedBindPrefixes).toEqual([]);
    const err = await refusal(call(cluster.control.updateCluster, { allowedBindPrefixes: { prefixes: ['srv'] } }));
    expect(err.code).toBe(Code.InvalidArgument);
  });
});
