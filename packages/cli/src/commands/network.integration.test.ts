import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { NetworkSpec } from '@flotilla/api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runProgram } from '../capture-io.test-helpers.js';
import { call, controlClient } from '../control-client.js';
import { EXIT } from '../exit-codes.js';
import { buildProgram } from '../index.js';
import { startTestCluster, type TestCluster, testDirs } from '../test-manager.test-helpers.js';
import { ATTACHABLE_NOTE, networkCommand } from './network.js';
import { stackCommand } from './stack.js';

// `flotilla network …` against a manager on a real etcd, and stacks that join its networks as external ones.
const dir = testDirs('cli-net', ['manager', 'cli', 'files']);
const [cliDir, filesDir] = [dir.cli, dir.files];
let cluster: TestCluster | undefined;

beforeAll(async () => {
  cluster = await startTestCluster(dir.manager, dir.cli);
});

afterAll(async () => {
  await cluster?.stop();
  dir.remove();
});

function flotilla(args: string[]) {
  const client = () => controlClient(cliDir);
  return runProgram((io) => buildProgram([(i) => networkCommand(i, client), (i) => stackCommand(i, client)], io), args);
}

interface Inspected {
  Name: string;
  Id: string;
  Driver: string;
  Scope: string;
  Internal: boolean;
  Attachable: boolean;
  IPAM: { Config: { Subnet: string; Gateway?: string }[] };
  Labels: Record<string, string>;
  Options: Record<string, string>;
  Flotilla: { Stack: string; UsedBy: string[] };
}

async function inspect(...refs: string[]): Promise<Inspected[]> {
  const run = await flotilla(['network', 'inspect', ...refs]);
  expect(run).toMatchObject({ code: EXIT.ok, err: '' });
  return JSON.parse(run.out) as Inspected[];
}

/** Waits for the allocator to give the network its subnet (and VXLAN ID). */
async function allocated(name: string): Promise<Inspected> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const [shown] = await inspect(name);
    if (shown?.IPAM.Config[0]?.Subnet && shown.Options['com.docker.network.driver.overlay.vxlanid_list']) return shown;
    if (Date.now() > deadline) throw new Error(`network ${name} was given no subnet`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Network names as `ls -q` and `ls --format json` list them. */
async function names(): Promise<string[]> {
  const ls = await flotilla(['network', 'ls', '--format', 'json']);
  return (JSON.parse(ls.out) as Inspected[]).map((n) => n.Name);
}

function stackFile(name: string, lines: string[]): string {
  const file = path.join(filesDir, `${name}.yml`);
  writeFileSync(file, `${lines.join('\n')}\n`);
  return file;
}

/** A stack of one service that joins network `external` (declared external, under another key with `name:`). */
const joiner = (external: string) =>
  stackFile(`joins-${external}`, [
    'services:',
    '  api:',
    '    image: registry.invalid/api:1',
    '    networks: [shared]',
    'networks:',
    '  shared:',
    '    external: true',
    `    name: ${external}`,
  ]);

const deploy = (file: string, stack: string) =>
  flotilla(['stack', 'deploy', '--no-wait', '--resolve-image', 'never', '-c', file, stack]);

describe('flotilla network', () => {
  it('creates, lists and inspects a network in docker field names; the cluster gives it a subnet', async () => {
    const created = await flotilla(['network', 'create', '-d', 'overlay', '--label', 'team=a', 'backplane']);
    expect(created).toMatchObject({ code: EXIT.ok, err: '' });
    const id = created.out.trim();
    expect(id).toMatch(/^[0-9a-z]{25}$/);

    const shown = await allocated('backplane');
    expect(shown).toMatchObject({
      Name: 'backplane',
      Id: id,
      Driver: 'overlay',
      Scope: 'swarm',
      Internal: false,
      Attachable: false,
      Labels: { team: 'a' },
      Flotilla: { Stack: '', UsedBy: [] },
    });
    expect(shown.IPAM.Config[0]?.Subnet).toMatch(/^\d+\.\d+\.\d+\.\d+\/\d+$/);
    // By name or by ID: the same network.
    expect((await inspect(id))[0]?.Name).toBe('backplane');

    const ls = await flotilla(['network', 'ls']);
    expect(ls.code).toBe(EXIT.ok);
    expect(ls.out).toMatch(/^NETWORK ID\s+NAME\s+DRIVER\s+SCOPE\s+SUBNET\s+STACK\n/);
    expect(ls.out).toMatch(
      new RegExp(`${id}\\s+backplane\\s+overlay\\s+swarm\\s+${shown.IPAM.Config[0]?.Subnet}\\s+-`),
    );
    const quiet = (await flotilla(['network', 'ls', '-q'])).out.trim().split('\n');
    expect(quiet).toContain(id);
    expect(quiet).toHaveLength((await names()).length);
  });

  it('takes --subnet, --gateway, --internal and --attachable, and says what --attachable means here', async () => {
    const created = await flotilla([
      'network',
      'create',
      '--subnet',
      '10.77.0.0/24',
      '--gateway',
      '10.77.0.254',
      '--internal',
      '--attachable',
      'private',
    ]);
    expect(created.code).toBe(EXIT.ok);
    expect(created.err).toBe(`${ATTACHABLE_NOTE}\n`);
    const shown = await allocated('private');
    expect(shown).toMatchObject({
      Internal: true,
      Attachable: true,
      IPAM: { Config: [{ Subnet: '10.77.0.0/24', Gateway: '10.77.0.254' }] },
    });
  });

  it('refuses an overlapping subnet, a taken name, another driver and bad addresses, and writes nothing', async () => {
    const before = await names();
    const overlap = await flotilla(['network', 'create', '--subnet', '10.77.0.128/25', 'clash']);
    expect(overlap.code).toBe(EXIT.failed);
    expect(overlap.err).toContain('subnet 10.77.0.128/25 overlaps 10.77.0.0/24 of network private');
    // The subnet the cluster gave a network is as taken as one asked for.
    const given = (await inspect('backplane'))[0]?.IPAM.Config[0]?.Subnet ?? '';
    const overGiven = await flotilla(['network', 'create', '--subnet', given, 'clash']);
    expect(overGiven.err).toContain(`overlaps ${given} of network backplane`);
    const taken = await flotilla(['network', 'create', 'private']);
    expect(taken).toMatchObject({ code: EXIT.failed, err: expect.stringContaining('network private exists') });
    const bridge = await flotilla(['network', 'create', '--driver', 'bridge', 'local']);
    expect(bridge.code).toBe(EXIT.failed);
    expect(bridge.err).toContain('driver "bridge" is not one Flotilla has');
    expect(bridge.err).toContain('--driver overlay');
    const outside = await flotilla(['network', 'create', '--subnet', '10.78.0.0/24', '--gateway', '10.79.0.1', 'gw']);
    expect(outside.err).toContain('gateway 10.79.0.1 is not in 10.78.0.0/24');
    const alone = await flotilla(['network', 'create', '--gateway', '10.78.0.1', 'gw']);
    expect(alone.err).toContain('a gateway needs the subnet');
    const long = await flotilla(['network', 'create', '--subnet', `10.80.0.0/${'2'.repeat(5000)}`, 'long']);
    expect(long.err).toContain('a subnet or gateway is at most');
    expect(long.err).not.toContain('2222');
    const stackLabel = await flotilla(['network', 'create', '--label', 'com.docker.stack.namespace=x', 'lbl']);
    expect(stackLabel.err).toContain('is set by stack deploy');
    const badLabel = await flotilla(['network', 'create', '--label', 'novalue', 'lbl']);
    expect(badLabel).toMatchObject({ code: EXIT.usage, err: expect.stringContaining('--label takes KEY=VALUE') });
    // Past the CLI too: external and IPv6 are not for a network made here.
    const c = controlClient(cliDir);
    try {
      const spec = NetworkSpec.fromPartial({ annotations: { name: 'ext' }, external: true });
      await expect(call(c, c.createNetwork, { spec })).rejects.toThrow(/external is a stack's word/);
    } finally {
      c.close();
    }
    expect(await names()).toEqual(before);
  });

  it('lets a stack join it as external; rm is refused while a service uses it, naming the service', async () => {
    const deployed = await deploy(joiner('backplane'), 'shop');
    expect(deployed.code).toBe(EXIT.ok);
    const [shown] = await inspect('backplane');
    expect(shown?.Flotilla.UsedBy).toEqual(['shop_api']);
    // The stack made no network of its own for it.
    expect((await names()).filter((n) => n.includes('shared'))).toEqual([]);

    const rm = await flotilla(['network', 'rm', 'backplane']);
    expect(rm.code).toBe(EXIT.failed);
    expect(rm.err).toContain('network backplane is in use by shop_api');
    expect(await names()).toContain('backplane');

    // Removing the stack leaves the external network, which is then free to remove.
    const removed = await flotilla(['stack', 'rm', 'shop']);
    expect(removed.code, removed.err).toBe(EXIT.ok);
    expect(await names()).toContain('backplane');
    const freed = await flotilla(['network', 'rm', 'backplane']);
    expect(freed).toMatchObject({ code: EXIT.ok, out: 'backplane\n' });
    expect(await names()).not.toContain('backplane');
  });

  it('refuses a deploy that names a missing external network, before anything is written', async () => {
    const before = await names();
    const dryRun = await flotilla([
      'stack',
      'deploy',
      '--dry-run',
      '--resolve-image',
      'never',
      '-c',
      joiner('nowhere'),
      'lost',
    ]);
    expect(dryRun.code).toBe(EXIT.failed);
    expect(dryRun.err).toContain('network nowhere is declared external but does not exist');
    const refused = await deploy(joiner('nowhere'), 'lost');
    expect(refused.code).toBe(EXIT.failed);
    expect(refused.err).toContain('network nowhere is declared external but does not exist');
    expect(refused.err).toContain('flotilla network create nowhere');
    expect((await flotilla(['stack', 'ls'])).out).not.toContain('lost');
    expect(await names()).toEqual(before);
  });

  it("refuses a stack's own network named as one made here, and rm of a stack's or the ingress network", async () => {
    const own = stackFile('own', [
      'services:',
      '  web:',
      '    image: registry.invalid/web:1',
      '    networks: [mine]',
      'networks:',
      '  mine:',
      '    name: private',
    ]);
    const taken = await deploy(own, 'own');
    expect(taken.code).toBe(EXIT.failed);
    expect(taken.err).toContain('a network named private already exists outside any stack');
    expect(taken.err).toContain('external: true');

    const stackNet = stackFile('stacknet', ['services:', '  web:', '    image: registry.invalid/web:1']);
    expect((await deploy(stackNet, 'site')).code).toBe(EXIT.ok);
    const [siteNet] = await inspect('site_default');
    expect(siteNet?.Flotilla.Stack).toBe('site');
    const rmStackNet = await flotilla(['network', 'rm', 'site_default', 'ingress', 'nope', 'private']);
    expect(rmStackNet.code).toBe(EXIT.failed);
    expect(rmStackNet.err).toContain('network site_default belongs to stack site: it is removed with the stack');
    expect(rmStackNet.err).toContain('network ingress is the routing mesh');
    expect(rmStackNet.err).toContain('no network nope');
    // One refused does not keep the others.
    expect(rmStackNet.out).toBe('private\n');
    expect(await names()).toEqual(expect.arrayContaining(['site_default', 'ingress']));
    expect(await names()).not.toContain('private');
  });
});
