import { Code, type ServiceSpec } from '@flotilla/api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runProgram } from '../capture-io.test-helpers.js';
import { call, controlClient } from '../control-client.js';
import { EXIT } from '../exit-codes.js';
import { buildProgram } from '../index.js';
import { startTestCluster, type TestCluster, testDirs } from '../test-manager.test-helpers.js';
import { serviceCommand } from './service.js';

// `service create`, then `update`, `rollback` and `scale`, each followed until the service converges (attached,
// as docker's are), against a manager on a real etcd and an agent that runs each task as a process.
const dir = testDirs('cli-svc', ['manager', 'cli', 'agent']);
const cliDir = dir.cli;
let cluster: TestCluster | undefined;

beforeAll(async () => {
  cluster = await startTestCluster(dir.manager, dir.cli, [{ stateDir: dir.agent }]);
});

afterAll(async () => {
  await cluster?.stop();
  dir.remove();
});

function flotilla(args: string[]) {
  const client = () => controlClient(cliDir);
  // The tasks run as processes: their image names nothing a registry knows.
  return runProgram((io) => buildProgram([(i) => serviceCommand(i, client)], io), args, {
    env: { FLOTILLA_RESOLVE_IMAGE: 'never' },
  });
}

interface InspectedSpec {
  annotations: { name: string };
  stack?: string;
  replicas: string;
  container: { env?: string[]; command?: string[] };
  endpoint?: { ports?: { targetPort: number; publishedPort?: number }[] };
  updateConfig?: { parallelism: string };
}

async function inspect(name: string): Promise<{ spec: InspectedSpec; specVersion: string }> {
  // The API's objects: the spec as Flotilla keeps it (docker's shape is the default, see listing.integration).
  const result = await flotilla(['service', 'inspect', '--format', 'raw', name]);
  expect(result.code).toBe(EXIT.ok);
  const [service] = JSON.parse(result.out) as { spec: InspectedSpec; specVersion: string }[];
  return service as { spec: InspectedSpec; specVersion: string };
}

const attached = ['--timeout', '45s'];

describe('service create / update / rollback / scale, attached', () => {
  it('create follows the new service until its tasks run, and makes the spec the flags describe', async () => {
    const created = await flotilla([
      'service',
      'create',
      '--name=web',
      '--replicas=2',
      '--env=A=1',
      '--update-parallelism=2',
      '--allow-process-executor',
      ...attached,
      'unused',
      'sh',
      '-c',
      'sleep 600',
    ]);
    expect(created.err).toBe('');
    expect(created.code).toBe(EXIT.ok);
    expect(created.out).toMatch(/web: 2\/2 running|web: converged/);
    expect(created.out).toContain('web: converged');
    // Each slot is shown as it goes (plain lines here: the output is not a terminal).
    expect(created.out).toMatch(/^ {2}web 1\/2: running spec 1$/m);
    expect(created.out).toMatch(/^ {2}web 2\/2: running spec 1$/m);
    const { spec, specVersion } = await inspect('web');
    expect(spec.annotations.name).toBe('web');
    expect(spec.stack ?? '').toBe('');
    expect(spec.replicas).toBe('2');
    expect(spec.container.env).toEqual(['A=1']);
    // The command's own flags (-c) went to the command, not to flotilla.
    expect(spec.container.command).toEqual(['sh', '-c', 'sleep 600']);
    expect(spec.updateConfig?.parallelism).toBe('2');
    expect(specVersion).toBe('1');
  });

  it('places a service that reserves CPU and memory on a real agent, which reports what its machine offers', async () => {
    const created = await flotilla([
      'service',
      'create',
      '--name=reserving',
      '--reserve-cpu=0.1',
      '--reserve-memory=16M',
      '--allow-process-executor',
      ...attached,
      'unused',
      'sleep',
      '600',
    ]);
    expect(created.code, created.out + created.err).toBe(EXIT.ok);
    expect(created.out).toContain('reserving: converged');
    // More than any machine offers stays pending, saying why.
    const tooMuch = await flotilla([
      'service',
      'create',
      '--name=greedy',
      '--reserve-memory=100T',
      '--allow-process-executor',
      '--detach',
      'unused',
      'sleep',
      '600',
    ]);
    expect(tooMuch.code, tooMuch.err).toBe(EXIT.ok);
    await expect
      .poll(async () => (await flotilla(['service', 'ps', 'greedy', '--no-trunc'])).out, { timeout: 10_000 })
      .toContain('insufficient memory');
    expect((await flotilla(['service', 'rm', 'reserving', 'greedy'])).code).toBe(EXIT.ok);
  });

  it('a create under a name already taken is refused and changes nothing', async () => {
    const before = await inspect('web');
    const refused = await flotilla([
      'service',
      'create',
      '--name=web',
      '--env=A=2',
      '--allow-process-executor',
      ...attached,
      'other',
      'true',
    ]);
    expect(refused.code).toBe(EXIT.failed);
    expect(refused.err).toContain('a service named web already exists');
    expect(refused.out).toBe('');
    expect(await inspect('web')).toEqual(before);
  });

  it('a create that the manager refuses (a secret that does not exist) writes nothing', async () => {
    const refused = await flotilla([
      'service',
      'create',
      '--name=ghost',
      '--secret=no_such_secret',
      '--allow-process-executor',
      ...attached,
      'unused',
      'true',
    ]);
    expect(refused.code).toBe(EXIT.failed);
    expect(refused.err).toContain('no_such_secret');
    const ls = await flotilla(['service', 'ls']);
    expect(ls.out).not.toContain('ghost');
    expect(ls.out).toContain('web');
  });

  it('update --env-add --publish-add rolls out a new spec and follows it to convergence', async () => {
    const updated = await flotilla([
      'service',
      'update',
      '--env-add=B=2',
      '--publish-add=18080:80',
      ...attached,
      'web',
    ]);
    expect(updated.err).toBe('');
    expect(updated.code).toBe(EXIT.ok);
    expect(updated.out).toContain('web: spec version 2 rolling out');
    expect(updated.out).toContain('web: converged');
    expect(updated.out).toMatch(/^ {2}web 1\/2: running old spec 1$/m);
    expect(updated.out).toMatch(/^ {2}web 1\/2: running spec 2$/m);
    const { spec, specVersion } = await inspect('web');
    expect(specVersion).toBe('2');
    expect(spec.container.env).toEqual(['A=1', 'B=2']);
    expect(spec.endpoint?.ports).toEqual([expect.objectContaining({ targetPort: 80, publishedPort: 18080 })]);
    // What the update did not name stayed as it was.
    expect(spec.replicas).toBe('2');
    expect(spec.updateConfig?.parallelism).toBe('2');
  });

  it('the manager refuses a whole-spec update computed from a spec that has changed since', async () => {
    const c = controlClient(cliDir);
    try {
      const { service } = await call(c, c.getService, { service: 'web' });
      const stale = { ...service?.spec, replicas: 7n } as ServiceSpec;
      const ask = () =>
        call(c, c.updateService, {
          service: 'web',
          envAdd: [],
          envRm: [],
          force: false,
          spec: { ...stale, replicas: 1n },
          baseSpec: stale,
        });
      await expect(ask()).rejects.toMatchObject({
        code: Code.Aborted,
        message: expect.stringContaining('run the update again'),
      });
      expect((await inspect('web')).spec.replicas).toBe('2');
    } finally {
      c.close();
    }
  });

  it('a bad update flag is a usage error and changes nothing', async () => {
    const before = await inspect('web');
    const bad = await flotilla(['service', 'update', '--limit-memory=lots', 'web']);
    expect(bad.code).toBe(EXIT.usage);
    expect(bad.err).toContain('--limit-memory');
    expect(await inspect('web')).toEqual(before);
  });

  it('rollback returns to the spec before the update and follows the rollback', async () => {
    const rolled = await flotilla(['service', 'rollback', ...attached, 'web']);
    expect(rolled.err).toBe('');
    expect(rolled.code).toBe(EXIT.ok);
    expect(rolled.out).toContain('web: converged');
    const { spec } = await inspect('web');
    expect(spec.container.env).toEqual(['A=1']);
    expect(spec.endpoint?.ports ?? []).toEqual([]);
  });

  it('scale follows the new replicas until they run', async () => {
    const scaled = await flotilla(['service', 'scale', ...attached, 'web=3']);
    expect(scaled.err).toBe('');
    expect(scaled.code).toBe(EXIT.ok);
    expect(scaled.out).toContain('web scaled to 3');
    expect(scaled.out).toContain('web: converged');
    expect((await inspect('web')).spec.replicas).toBe('3');
    const ls = await flotilla(['service', 'ls']);
    expect(ls.out).toMatch(/web\s+replicated\s+3\/3/);
  });

  it('an update whose tasks cannot start ends attached with exit code 1; --detach returns at once', async () => {
    const detached = await flotilla(['service', 'update', '-d', '--env-add=C=3', 'web']);
    expect(detached.code).toBe(EXIT.ok);
    expect(detached.out).not.toContain('converged');
    const failing = await flotilla([
      'service',
      'update',
      '--entrypoint=/no/such/program',
      '--update-failure-action=pause',
      '--update-monitor=1s',
      '--restart-delay=0s',
      ...attached,
      'web',
    ]);
    expect(failing.code).toBe(EXIT.failed);
    expect(failing.err).toContain('did not converge');
    expect(failing.err).toMatch(/web: update paused: .*no\/such\/program/);
    expect(failing.out).not.toContain('web: converged');
  });
});
