import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { EXIT } from '@flotilla/cli';
import { tempDir } from '@flotilla/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bashCompletions } from '../packages/cli/src/output/completion.test-helpers.js';
import { bin, runFlotilla } from './flotilla-command.js';

// The docker command shapes a Swarm user types, typed the same way into the built `flotilla` against a live
// cluster: `flotilla dev up --loopback` (a manager with its etcd member, Redis for logs, two agents whose process
// executor runs each task's command as a host process). Each command is judged by what it did to the cluster —
// tasks started and stopped (counted as processes on this machine), specs changed, refusals that changed nothing —
// not by its exit code alone. The README's "docker → flotilla" table lists these commands.
const dirs = [tempDir('e2e-docker-dev'), tempDir('e2e-docker-cli')];
const [devDir, cliDir] = dirs.map((d) => d.path) as [string, string];
const env = {
  ...process.env,
  FLOTILLA_DEV_DIR: path.join(devDir, 'dev'),
  FLOTILLA_CONFIG_DIR: cliDir,
  // The process executor runs no image: the images named are never pinned (no registry is asked).
  FLOTILLA_RESOLVE_IMAGE: 'never',
};
const cli = (...args: string[]) => runFlotilla(args, env);
const lines = (text: string) => text.split('\n').filter((l) => l.trim() !== '');

/** Runs a command that must succeed; fails with everything it printed otherwise. */
async function ok(...args: string[]) {
  const run = await cli(...args);
  expect(run.code, `flotilla ${args.join(' ')}\n${run.output}`).toBe(EXIT.ok);
  return run;
}

// Each service's tasks sleep for a length of their own, so their processes can be told from anything else here.
const base = 4000 + Math.floor(Math.random() * 5000);
const WEB_SLEEP = String(base);
const DB_SLEEP = String(base + 1);
const API_SLEEP = String(base + 2);

/**
 * How many processes on this machine run exactly `sleep SECONDS` (`/usr/bin/sleep` when the agent found it on the
 * PATH itself, to start it in a cgroup): the running tasks of one service.
 */
function sleeping(seconds: string): number {
  let count = 0;
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      const [program, ...args] = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').slice(0, -1);
      if (program && path.basename(program) === 'sleep' && args.join(' ') === seconds) count++;
    } catch {
      // The process ended while the list was read.
    }
  }
  return count;
}

const poll = { timeout: 30_000, interval: 300 };

/** A field of `service inspect --pretty`, as docker lays it out (`Name:  web`). */
async function pretty(service: string): Promise<string> {
  return (await ok('service', 'inspect', '--pretty', service)).stdout;
}

/** The running tasks of a service as `service ps --filter desired-state=running` lists them, in a template. */
async function runningTasks(service: string, template = '{{.ID}} {{.State}} {{.Node}}'): Promise<string[]> {
  return lines((await ok('service', 'ps', service, '--filter', 'desired-state=running', '--format', template)).stdout);
}

let daemons: number[] = [];
const nodeIds = new Map<string, string>();

beforeAll(async () => {
  const up = await cli('dev', 'up', '--nodes', '2', '--loopback');
  expect(up.code, up.output).toBe(EXIT.ok);
  const state = JSON.parse(readFileSync(path.join(env.FLOTILLA_DEV_DIR, 'state.json'), 'utf8'));
  daemons = state.pids.map((p: { pid: number }) => p.pid);
  for (const row of lines((await ok('node', 'ls', '--format', '{{.Hostname}} {{.ID}}')).stdout)) {
    const [hostname, id] = row.split(' ') as [string, string];
    nodeIds.set(hostname, id);
  }
});

afterAll(async () => {
  // The last test takes the cluster down and checks it; this is for a run that failed before it.
  await cli('dev', 'down');
  for (const pid of daemons) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Gone already, as it should be.
    }
  }
  for (const d of dirs) d.remove();
});

describe('docker command shapes on a live loopback cluster', () => {
  it('node ls -q, node inspect --pretty, node ps without a node, node update --role: as docker has them', async () => {
    const ids = lines((await ok('node', 'ls', '-q')).stdout);
    // The manager (a process of its own, on no node) and both agents' nodes, as `docker node ls -q` lists them.
    expect(ids).toHaveLength(3);
    expect(new Set(ids)).toEqual(new Set(nodeIds.values()));
    const nodeOne = nodeIds.get('dev-node-1') as string;
    expect(ids).toContain(nodeOne);
    expect(JSON.parse((await ok('node', 'ls', '--format', 'json')).stdout)).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ Hostname: 'dev-node-1', Status: 'ready', Availability: 'active' }),
        expect.objectContaining({ ManagerStatus: 'Leader' }),
      ]),
    );

    const shown = (await ok('node', 'inspect', '--pretty', 'dev-node-1')).stdout;
    expect(shown).toMatch(new RegExp(`^ID:\\s+${nodeOne}$`, 'm'));
    expect(shown).toMatch(/^Hostname:\s+dev-node-1$/m);
    expect(shown).toMatch(/^ Availability:\s+Active$/m);
    expect(shown).toMatch(/^Engine Version:\s+process v\d+/m);
    // `self` and a bare `node ps` name the node that runs the CLI's manager: this one runs on none.
    for (const args of [
      ['node', 'inspect', '--pretty', 'self'],
      ['node', 'ps'],
    ]) {
      const refused = await cli(...args);
      expect(refused.code, refused.output).toBe(EXIT.usage);
      expect(refused.output).toMatch(/name the node: flotilla node (inspect|ps) NODE \(the manager this CLI uses/);
      expect(refused.stdout).toBe('');
    }

    // One manager, and agents started without --manager-listen: a role change is refused, saying why, and
    // changes nothing.
    const promote = await cli('node', 'update', '--role', 'manager', 'dev-node-1');
    expect(promote.code).toBe(EXIT.failed);
    expect(promote.output).toContain("node dev-node-1's agent cannot run a manager: restart it with --manager-listen");
    const [managerId] = ids;
    const demote = await cli('node', 'update', '--role', 'worker', managerId as string);
    expect(demote.code).toBe(EXIT.failed);
    expect(demote.output).toMatch(/is the last manager: demoting it would leave the cluster without a control plane/);
    expect((await cli('node', 'promote', 'dev-node-1')).code).toBe(EXIT.failed);
    expect((await cli('node', 'demote', managerId as string)).output).toContain('is the last manager');
    const remove = await cli('node', 'rm', 'dev-node-1');
    expect(remove.code).toBe(EXIT.failed);
    expect(remove.output).toMatch(/is ready: drain it .* or use --force/);
    // What must not have happened: a role changed, a node gone.
    const roles = lines((await ok('node', 'ls', '--format', '{{.ID}} {{.Role}} {{.ManagerStatus}}')).stdout);
    expect(roles.sort()).toEqual(
      [`${managerId} manager Leader`, `${nodeOne} worker `, `${nodeIds.get('dev-node-2')} worker `].sort(),
    );

    // Labels, for the stack's placement below.
    await ok('node', 'update', '--label-add', 'zone=a', '--label-add', 'tmp=1', 'dev-node-2');
    await ok('node', 'update', '--label-rm', 'tmp', 'dev-node-2');
    const labelled = (await ok('node', 'inspect', '--pretty', 'dev-node-2')).stdout;
    expect(labelled).toMatch(/^Labels:\n - zone=a$/m);
    expect(labelled).not.toContain('tmp');
  });

  it('service create with docker flags runs its tasks, attached, with progress on a non-terminal stdout', async () => {
    const created = await cli(
      'service',
      'create',
      '--name',
      'web',
      '--replicas',
      '2',
      '--publish',
      '8080:80',
      '--env',
      'A=1',
      '--label',
      'l=v',
      '--constraint',
      'node.role==worker',
      '--limit-memory',
      '64M',
      '--update-parallelism',
      '2',
      '--update-monitor',
      '1s',
      '--rollback-monitor',
      '1s',
      '--health-cmd',
      'test -d /',
      '--health-interval',
      '1s',
      '--restart-condition',
      'on-failure',
      '--allow-process-executor',
      'busybox:1',
      'sh',
      '-c',
      `echo hello A=$A B=$B C=$C; exec sleep ${WEB_SLEEP}`,
    );
    expect(created.code, created.output).toBe(EXIT.ok);
    const [id, ...progress] = lines(created.stdout);
    // The ID first, as docker prints it; then a line per slot as it changes, and the outcome.
    expect(id).toMatch(/^[0-9a-z]{25}$/);
    expect(progress).toEqual(expect.arrayContaining([expect.stringMatching(/^ {2}web 1\/2: /)]));
    expect(progress).toEqual(expect.arrayContaining([expect.stringMatching(/^ {2}web 2\/2: /)]));
    expect(progress.at(-1)).toBe('web: converged, 2/2 running, healthy');
    expect(created.stdout).not.toContain('\r');
    expect(sleeping(WEB_SLEEP)).toBe(2);

    expect(lines((await ok('service', 'ls', '--format', '{{.Name}} {{.Replicas}}')).stdout)).toEqual(['web 2/2']);
    const table = lines((await ok('service', 'ls')).stdout);
    expect(table[0]).toMatch(/^ID\s+NAME\s+MODE\s+REPLICAS\s+IMAGE\s+PORTS$/);
    expect(table[1]).toMatch(/^[0-9a-z]{12}\s+web\s+replicated\s+2\/2\s+busybox:1\s+\*:8080->80\/tcp$/);
    expect(lines((await ok('service', 'ls', '-q')).stdout)).toEqual([id]);

    const quiet = lines((await ok('service', 'ps', 'web', '--filter', 'desired-state=running', '-q')).stdout);
    expect(quiet).toHaveLength(2);
    for (const t of quiet) expect(t).toMatch(/^[0-9a-z]{12}$/);
    const whole = lines((await ok('service', 'ps', '--no-trunc', 'web')).stdout);
    expect(whole[0]).toMatch(/^ID\s+NAME\s+IMAGE\s+NODE\s+DESIRED STATE\s+CURRENT STATE\s+ERROR\s+PORTS$/);
    const wholeIds = whole.slice(1).map((row) => row.split(/\s+/)[0] as string);
    expect(wholeIds.map((t) => t.slice(0, 12)).sort()).toEqual([...quiet].sort());
    for (const t of wholeIds) expect(t).toMatch(/^[0-9a-z]{25}$/);
    // The constraint holds: the tasks are on the workers, and the manager runs none.
    for (const row of await runningTasks('web')) expect(row).toMatch(/^\w{25} running dev-node-[12]$/);

    const spec = await pretty('web');
    expect(spec).toMatch(/^Name:\s+web$/m);
    expect(spec).toMatch(/^Labels:\n l=v$/m);
    expect(spec).toMatch(/^ Replicas:\s+2$/m);
    expect(spec).toMatch(/^ Constraints:\s+\[node\.role==worker\]$/m);
    expect(spec).toMatch(/^UpdateConfig:\n Parallelism:\s+2$/m);
    expect(spec).toMatch(/^ Env:\s+A=1$/m);
    expect(spec).toMatch(/^ {2}Memory:\s+64MiB$/m);
    expect(spec).toMatch(/PublishedPort = 8080\n\s+Protocol = tcp\n\s+TargetPort = 80/);
    expect(spec).toMatch(/Test = test -d \//);

    // The variable reached the tasks' processes: each printed it, and the agents shipped the lines.
    await expect
      .poll(async () => lines((await ok('service', 'logs', 'web')).stdout), poll)
      .toEqual([
        expect.stringMatching(/^web\.[12]\.\w{12}@dev-node-[12]\s+\| hello A=1 B= C=$/),
        expect.stringMatching(/^web\.[12]\.\w{12}@dev-node-[12]\s+\| hello A=1 B= C=$/),
      ]);

    // Shell completion offers the live cluster's names.
    const completion = path.join(cliDir, 'flotilla.bash');
    writeFileSync(completion, (await ok('completion', 'bash')).stdout);
    const completing = { ...env, PATH: `${path.dirname(bin)}:${process.env.PATH}` };
    expect((await bashCompletions(completion, ['flotilla', 'service', 'ps', 'w'], completing)).offered).toEqual([
      'web',
    ]);
    expect((await bashCompletions(completion, ['flotilla', 'node', 'ps', 'dev-'], completing)).offered.sort()).toEqual([
      'dev-node-1',
      'dev-node-2',
    ]);
  });

  it('node ps NODE and node update --availability drain, then active', async () => {
    const onOne = lines((await ok('node', 'ps', 'dev-node-1', '--format', '{{.Name}} {{.Node}}')).stdout);
    for (const row of onOne) expect(row).toMatch(/ dev-node-1$/);
    const everywhere = [
      ...lines((await ok('node', 'ps', 'dev-node-1', '-q')).stdout),
      ...lines((await ok('node', 'ps', 'dev-node-2', '-q')).stdout),
    ];
    expect(everywhere.sort()).toEqual(lines((await ok('service', 'ps', 'web', '-q')).stdout).sort());

    expect((await ok('node', 'update', '--availability', 'drain', 'dev-node-1')).stdout).toBe(
      `${nodeIds.get('dev-node-1')}\n`,
    );
    expect(lines((await ok('node', 'ls', '--format', '{{.Hostname}} {{.Availability}}')).stdout)).toContain(
      'dev-node-1 drain',
    );
    // Docker's drain: the node's tasks are stopped and started again on the other node.
    await expect
      .poll(async () => (await ok('node', 'ps', 'dev-node-1', '--filter', 'desired-state=running', '-q')).stdout, poll)
      .toBe('');
    await expect
      .poll(async () => await runningTasks('web', '{{.State}} {{.Node}}'), poll)
      .toEqual(['running dev-node-2', 'running dev-node-2']);
    await expect.poll(() => sleeping(WEB_SLEEP), poll).toBe(2);

    await ok('node', 'update', '--availability', 'active', 'dev-node-1');
    expect(lines((await ok('node', 'ls', '--format', '{{.Hostname}} {{.Availability}}')).stdout)).toContain(
      'dev-node-1 active',
    );
  });

  it('service update (attached, then --detach), scale, update --rollback and update --force', async () => {
    const updated = await cli(
      'service',
      'update',
      '--image',
      'busybox:2',
      '--env-add',
      'B=2',
      '--env-rm',
      'A',
      '--label-add',
      'm=w',
      '--replicas',
      '3',
      'web',
    );
    expect(updated.code, updated.output).toBe(EXIT.ok);
    const progress = lines(updated.stdout);
    expect(progress[0]).toBe('web: spec version 2 rolling out');
    for (const slot of ['1/3', '2/3', '3/3']) {
      expect(progress).toEqual(
        expect.arrayContaining([expect.stringMatching(new RegExp(`^ {2}web ${slot}: .*spec 2`))]),
      );
    }
    expect(progress.at(-1)).toBe('web: converged, 3/3 running (spec 2), healthy');
    expect(await runningTasks('web', '{{.Image}} {{.State}}')).toEqual([
      'busybox:2 running',
      'busybox:2 running',
      'busybox:2 running',
    ]);
    await expect.poll(() => sleeping(WEB_SLEEP), poll).toBe(3);
    let spec = await pretty('web');
    expect(spec).toMatch(/^ Env:\s+B=2$/m);
    expect(spec).toMatch(/^Labels:\n l=v\n m=w$/m);
    expect(spec).toMatch(/^ Image:\s+busybox:2$/m);

    // --detach: written, not followed.
    const before = (await runningTasks('web', '{{.ID}}')).sort();
    const detached = await ok('service', 'update', '--detach', '--env-add', 'C=3', 'web');
    expect(detached.stdout).toBe('web: spec version 3 rolling out\n');
    await expect
      .poll(async () => {
        const now = await runningTasks('web', '{{.ID}} {{.State}}');
        return now.filter((row) => row.endsWith(' running') && !before.includes(row.split(' ')[0] as string)).length;
      }, poll)
      .toBe(3);
    expect(
      (await pretty('web'))
        .match(/^ Env:\s+(.*)$/m)?.[1]
        ?.split(/\s+/)
        .sort(),
    ).toEqual(['B=2', 'C=3']);

    const scaled = await ok('service', 'scale', 'web=1');
    expect(scaled.stdout).toMatch(/^web scaled to 1$/m);
    expect(lines(scaled.stdout).at(-1)).toBe('web: converged, 1/1 running (spec 3), healthy');
    expect(lines((await ok('service', 'ps', 'web', '-f', 'desired-state=running', '-q')).stdout)).toHaveLength(1);
    await expect.poll(() => sleeping(WEB_SLEEP), poll).toBe(1);

    // docker service update --rollback: the spec before the last update (without C), at the scale set since.
    const rolledBack = await ok('service', 'update', '--rollback', 'web');
    expect(rolledBack.stdout).toMatch(/^web: rolling back to the previous spec/);
    expect(lines(rolledBack.stdout).at(-1)).toMatch(/^web: converged, 1\/1 running \(spec \d+\), healthy$/);
    spec = await pretty('web');
    expect(spec).toMatch(/^ Env:\s+B=2$/m);
    expect(spec).toMatch(/^ Replicas:\s+1$/m);

    const [task] = await runningTasks('web', '{{.ID}}');
    const forced = await ok('service', 'update', '--force', 'web');
    expect(lines(forced.stdout).at(-1)).toMatch(/^web: converged, 1\/1 running \(spec \d+\), healthy$/);
    const [replaced] = await runningTasks('web', '{{.ID}}');
    expect(replaced).toBeDefined();
    expect(replaced).not.toBe(task);
    expect((await pretty('web')).match(/^ Env:\s+(.*)$/m)?.[1]).toBe('B=2');
    await expect.poll(() => sleeping(WEB_SLEEP), poll).toBe(1);
  });

  it('network create|ls|inspect, a stack that joins it as external, stack deploy|services|ps|ls', async () => {
    const created = await ok(
      'network',
      'create',
      '-d',
      'overlay',
      '--subnet',
      '10.231.7.0/24',
      '--attachable',
      '--label',
      'a=b',
      'shared',
    );
    const [networkId] = lines(created.stdout);
    expect(networkId).toMatch(/^[0-9a-z]{25}$/);
    expect(created.output).toContain('--attachable is recorded');
    expect(lines((await ok('network', 'ls', '-q')).stdout)).toContain(networkId);
    expect((await ok('network', 'ls')).stdout).toMatch(
      new RegExp(`^${networkId}\\s+shared\\s+overlay\\s+swarm\\s+10\\.231\\.7\\.0/24\\s+-$`, 'm'),
    );
    const [inspected] = JSON.parse((await ok('network', 'inspect', 'shared')).stdout);
    expect(inspected).toMatchObject({
      Name: 'shared',
      Id: networkId,
      Driver: 'overlay',
      Scope: 'swarm',
      Attachable: true,
      Labels: { a: 'b' },
      IPAM: { Config: [{ Subnet: '10.231.7.0/24', Gateway: '10.231.7.1' }] },
      Flotilla: { UsedBy: [] },
    });
    // A subnet that overlaps one in use is refused, and nothing is made.
    const overlapping = await cli('network', 'create', '--subnet', '10.231.7.128/25', 'other');
    expect(overlapping.code).toBe(EXIT.failed);
    expect(lines((await ok('network', 'ls', '--format', 'json')).stdout).join('')).not.toContain('"other"');

    const stackFile = path.join(cliDir, 'app.yml');
    writeFileSync(stackFile, stackYaml('true'));
    const deployed = await ok('stack', 'deploy', '-c', stackFile, 'app');
    // Not a terminal: the deploy returns once written, as docker's does.
    expect(lines(deployed.stdout).sort()).toEqual(['Creating service app_api', 'Creating service app_db']);
    await expect
      .poll(
        async () => lines((await ok('stack', 'services', 'app', '--format', '{{.Name}} {{.Replicas}}')).stdout),
        poll,
      )
      .toEqual(['app_api 2/2', 'app_db 1/1']);
    const services = lines((await ok('stack', 'services', 'app')).stdout);
    expect(services[0]).toMatch(/^ID\s+NAME\s+MODE\s+REPLICAS\s+IMAGE\s+PORTS$/);
    expect(services.slice(1).map((row) => row.split(/\s+/)[1])).toEqual(['app_api', 'app_db']);
    expect(lines((await ok('stack', 'services', '-q', 'app')).stdout)).toHaveLength(2);
    await expect.poll(() => sleeping(API_SLEEP), poll).toBe(2);
    expect(sleeping(DB_SLEEP)).toBe(1);

    const ps = lines((await ok('stack', 'ps', 'app')).stdout);
    expect(ps[0]).toMatch(/^ID\s+NAME\s+IMAGE\s+NODE\s+DESIRED STATE\s+CURRENT STATE\s+ERROR\s+PORTS$/);
    expect(
      ps
        .slice(1)
        .map((row) => row.split(/\s+/)[1])
        .sort(),
    ).toEqual(['app_api.1', 'app_api.2', 'app_db.1']);
    expect(
      lines((await ok('stack', 'ps', 'app', '--filter', 'name=app_db', '--format', '{{.Name}} {{.State}}')).stdout),
    ).toEqual(['app_db.1 running']);
    // Placed by the label `node update --label-add` gave.
    expect(
      lines((await ok('stack', 'ps', 'app', '--filter', 'name=app_db', '--format', '{{.Name}} {{.Node}}')).stdout),
    ).toEqual(['app_db.1 dev-node-2']);
    expect(lines((await ok('stack', 'ps', '-q', 'app')).stdout)).toHaveLength(3);
    expect(lines((await ok('stack', 'ls')).stdout)).toEqual([
      expect.stringMatching(/^NAME\s+SERVICES$/),
      expect.stringMatching(/^app\s+2$/),
    ]);

    // The stack's service joined the network made outside it, which is now in use.
    const [joined] = JSON.parse((await ok('network', 'inspect', networkId as string)).stdout);
    expect(joined.Flotilla.UsedBy).toEqual(['app_api']);
    const busy = await cli('network', 'rm', 'shared');
    expect(busy.code).toBe(EXIT.failed);
    expect(busy.output).toContain('network shared is in use by app_api');
    expect(lines((await ok('network', 'ls', '-q')).stdout)).toContain(networkId);
  });

  it('an update that fails its health gate: attached service update and stack deploy --wait exit alike, saying why', async () => {
    const serviceUpdate = await cli('service', 'update', '--health-cmd', 'false', '--health-retries', '1', 'web');
    const stackFile = path.join(cliDir, 'app.yml');
    writeFileSync(stackFile, stackYaml('false'));
    const stackDeploy = await cli('stack', 'deploy', '--wait', '-c', stackFile, 'app');

    expect(serviceUpdate.code, serviceUpdate.output).toBe(EXIT.failed);
    expect(stackDeploy.code, stackDeploy.output).toBe(serviceUpdate.code);
    const why = /update paused: 1 of 1 new tasks failed \(unhealthy: Command failed: \/bin\/sh -c false\)/;
    expect(serviceUpdate.stdout).toMatch(new RegExp(`^web: failed: ${why.source}$`, 'm'));
    expect(serviceUpdate.output).toMatch(new RegExp(`did not converge:\\n {2}web: ${why.source}`));
    expect(stackDeploy.output).toMatch(new RegExp(`stack app did not converge:\\n {2}app_db: ${why.source}`));
    expect(stackDeploy.stdout).toMatch(/^Unchanged service app_api$/m);

    // docker service rollback: back to the healthy spec, followed to convergence.
    const rollback = await ok('service', 'rollback', 'web');
    expect(lines(rollback.stdout).at(-1)).toMatch(/^web: converged, 1\/1 running \(spec \d+\), healthy$/);
    expect(await pretty('web')).toMatch(/Test = test -d \//);
    expect(await runningTasks('web', '{{.State}} {{.Health}}')).toEqual(['running healthy']);
  });

  it('secret and config create|ls|inspect|rm, refused while a service uses them', async () => {
    const file = path.join(cliDir, 'password.txt');
    writeFileSync(file, 'not-shown-anywhere\n');
    const secretId = lines((await ok('secret', 'create', '--label', 'k=v', 'pw', file)).stdout)[0];
    const configId = lines((await ok('config', 'create', 'cf', file)).stdout)[0];
    expect((await ok('secret', 'ls')).stdout).toMatch(new RegExp(`^${secretId}\\s+pw\\s+1\\s+-`, 'm'));
    expect((await ok('config', 'ls')).stdout).toMatch(new RegExp(`^${configId}\\s+cf\\s+1\\s+-`, 'm'));
    const inspected = await ok('secret', 'inspect', 'pw');
    expect(inspected.stdout).not.toContain('not-shown-anywhere');

    // A service that uses both: process nodes cannot mount them, so its task waits, and says why.
    await ok(
      'service',
      'create',
      '--detach',
      '--name',
      'vault',
      '--secret',
      'pw',
      '--config',
      'cf',
      '--allow-process-executor',
      'busybox:1',
      'sleep',
      '1',
    );
    await expect
      .poll(async () => (await ok('service', 'ps', '--no-trunc', 'vault')).stdout, poll)
      .toContain('cannot mount secrets or configs');
    for (const kind of ['secret', 'config']) {
      const busy = await cli(kind, 'rm', kind === 'secret' ? 'pw' : 'cf');
      expect(busy.code).toBe(EXIT.failed);
      expect(busy.output).toContain('is in use by vault');
    }
    expect((await ok('service', 'rm', 'vault')).stdout).toBe('vault\n');
    // Free once the service's task has ended too.
    for (const [kind, name] of [
      ['secret', 'pw'],
      ['config', 'cf'],
    ] as const) {
      await expect.poll(async () => (await cli(kind, 'rm', name)).stdout, poll).toBe(`${name}\n`);
    }
    expect(lines((await ok('secret', 'ls')).stdout)).toHaveLength(1);
  });

  it('stack rm, network rm, service rm stop every task; dev down leaves nothing running', async () => {
    expect(lines((await ok('stack', 'rm', 'app')).stdout).sort()).toEqual([
      'Removing service app_api',
      'Removing service app_db',
    ]);
    expect(lines((await ok('stack', 'ls')).stdout)).toHaveLength(1);
    await expect.poll(() => sleeping(API_SLEEP) + sleeping(DB_SLEEP), poll).toBe(0);
    expect((await ok('network', 'rm', 'shared')).stdout).toBe('shared\n');
    expect(lines((await ok('network', 'ls', '--format', 'json')).stdout).join('')).not.toContain('"shared"');

    expect((await ok('service', 'rm', 'web')).stdout).toBe('web\n');
    expect((await ok('service', 'ls', '-q')).stdout).toBe('');
    await expect.poll(() => sleeping(WEB_SLEEP), poll).toBe(0);
    const missing = await cli('service', 'ps', 'web');
    expect(missing.code).toBe(EXIT.failed);
    expect(missing.output).toContain('no service "web"');

    expect((await ok('dev', 'down')).stdout).toContain('the dev cluster is down');
    for (const pid of daemons) expect(() => process.kill(pid, 0)).toThrow();
  });
});

/**
 * Stack `app`: `api` on the network made by `network create` (external), `db` with a healthcheck whose command
 * is given (`true`, or `false` for a release that fails its health gate). Both run as processes.
 */
function stackYaml(dbHealth: string): string {
  return [
    'services:',
    '  api:',
    '    image: busybox:1',
    `    command: ["sleep", "${API_SLEEP}"]`,
    '    networks: [shared]',
    '    deploy:',
    '      replicas: 2',
    '    x-flotilla: { allow_process_executor: true }',
    '  db:',
    '    image: busybox:1',
    `    command: ["sleep", "${DB_SLEEP}"]`,
    '    healthcheck:',
    `      test: ["CMD-SHELL", "${dbHealth}"]`,
    '      interval: 1s',
    '      retries: 1',
    '    deploy:',
    '      update_config: { monitor: 1s }',
    '      placement: { constraints: [node.labels.zone==a] }',
    '    x-flotilla: { allow_process_executor: true }',
    'networks:',
    '  shared:',
    '    external: true',
    '',
  ].join('\n');
}
