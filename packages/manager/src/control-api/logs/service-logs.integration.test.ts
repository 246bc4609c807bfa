import { type RunningAgent, startAgent } from '@flotilla/agent';
import { type LogEntry, LogEntry_Stream, type ServiceLogsRequest, type Task, TaskState } from '@flotilla/api';
import { nodeUserName, redisLogShipper, whenReady } from '@flotilla/events';
import { ManagedProcess } from '@flotilla/testing';
import { Metadata, type ServiceError, status } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RedisTestCluster, startRedisTestCluster } from '../../../test/redis-test-cluster.js';
import { processStack } from '../../../test/test-cluster.js';

// Real etcd, Redis as the cluster runs it (TLS only, certificates of the cluster CA, the managers' password, a user
// per node), a manager and an agent running the process executor: tasks print, the agent ships their lines to
// Redis as its own user, and the control API reads them back with the managers' user.
let cluster: RedisTestCluster;
let agent: RunningAgent;
let agentStopped = false;
/** A follow still open when the manager stops: it must end (a stop would otherwise wait for it forever). */
let open: Reading | undefined;

beforeAll(async () => {
  cluster = await startRedisTestCluster('logs');
  agent = await startAgent({
    stateDir: cluster.dir('agent'),
    hostname: 'logs-node',
    join: { manager: cluster.manager.address, token: cluster.manager.identity.tokens.worker },
    logShipper: redisLogShipper,
  });
});

afterAll(async () => {
  if (!agentStopped) await agent?.stop();
  await cluster?.stop();
  expect((await open?.ended)?.details).toContain('the manager is stopping');
  await ManagedProcess.stopAll();
});

async function deploy(yaml: string): Promise<void> {
  await cluster.rpc(cluster.control.deployStack, {
    stack: processStack(yaml, 'logs'),
    prune: false,
  });
}

async function tasks(service: string): Promise<Task[]> {
  return (await cluster.rpc(cluster.control.listTasks, { service, stack: '', node: '' })).tasks;
}

interface Reading {
  entries: LogEntry[];
  /** Resolves when the stream ends: with undefined, or the error it ended with. */
  ended: Promise<ServiceError | undefined>;
  cancel(): void;
}

function read(request: Partial<ServiceLogsRequest>): Reading {
  const call = cluster.control.serviceLogs(
    { target: '', follow: false, sinceMs: 0n, ...request } as ServiceLogsRequest,
    new Metadata(),
  );
  const entries: LogEntry[] = [];
  call.on('data', (response: { entries: LogEntry[] }) => entries.push(...response.entries));
  const ended = new Promise<ServiceError | undefined>((resolve) => {
    call.on('error', (err: ServiceError) => resolve(err));
    call.on('end', () => resolve(undefined));
  });
  return { entries, ended, cancel: () => call.cancel() };
}

/** A call without follow, to its end; fails on an error status. */
async function readAll(request: Partial<ServiceLogsRequest>): Promise<LogEntry[]> {
  const reading = read(request);
  const err = await reading.ended;
  if (err) throw new Error(err.details);
  return reading.entries;
}

const lines = (entries: LogEntry[]) => entries.map((e) => e.line);

describe('service logs through the control API', () => {
  it("merges the tasks' stored lines by time, the last N of each with tail, and labels each line", async () => {
    await deploy(
      [
        'services:',
        '  printer:',
        '    image: unused',
        '    command: ["sh", "-c", "echo first; echo second; echo oops >&2; exec sleep 60"]',
        '    deploy:',
        '      replicas: 2',
        '',
      ].join('\n'),
    );
    await expect.poll(async () => lines(await readAll({ target: 'logs_printer' })).length, { timeout: 20_000 }).toBe(6);
    const all = await readAll({ target: 'logs_printer' });
    expect(lines(all).sort()).toEqual(['first', 'first', 'oops', 'oops', 'second', 'second']);
    const times = all.map((e) => Number(e.atMs));
    expect(times).toEqual([...times].sort((a, b) => a - b));
    const ts = await tasks('logs_printer');
    expect(new Set(all.map((e) => e.taskId))).toEqual(new Set(ts.map((t) => t.id)));
    for (const e of all) {
      const task = ts.find((t) => t.id === e.taskId);
      expect(e).toMatchObject({ serviceName: 'logs_printer', slot: task?.slot, nodeName: 'logs-node' });
      expect(e.nodeId).toBe(agent.credentials.nodeId);
      expect(e.stream).toBe(e.line === 'oops' ? LogEntry_Stream.STREAM_STDERR : LogEntry_Stream.STREAM_STDOUT);
    }

    const lastOfEach = await readAll({ target: 'logs_printer', tail: 2 });
    expect(lastOfEach).toHaveLength(4);
    expect(new Set(lastOfEach.map((e) => e.taskId)).size).toBe(2);
    // A task by its ID prefix.
    const one = ts[0] as Task;
    expect(lines(await readAll({ target: one.id.slice(0, 10) })).sort()).toEqual(['first', 'oops', 'second']);

    await cluster.rpc(cluster.control.scaleService, { service: 'logs_printer', replicas: 0n });
  });

  it("honours the service's logging: max-size caps what is kept, none keeps nothing and says so", async () => {
    // 20 lines of 100 bytes (99 characters and a newline); max-size 1k keeps the newest 10.
    const print = 'i=10; while [ $$i -lt 30 ]; do printf "%099d\\n" $$i; i=$$((i+1)); done; exec sleep 60';
    await deploy(
      [
        'services:',
        '  capped:',
        '    image: unused',
        `    command: ${JSON.stringify(['sh', '-c', print])}`,
        '    logging:',
        '      driver: json-file',
        '      options: {max-size: 1k}',
        '  silent:',
        '    image: unused',
        '    command: ["sh", "-c", "echo not kept; exec sleep 60"]',
        '    logging:',
        '      driver: none',
        '',
      ].join('\n'),
    );
    await expect
      .poll(async () => lines(await readAll({ target: 'logs_capped' })).at(-1), { timeout: 20_000 })
      .toBe('29'.padStart(99, '0'));
    const kept = lines(await readAll({ target: 'logs_capped' }));
    expect(kept).toEqual(Array.from({ length: 10 }, (_, i) => String(20 + i).padStart(99, '0')));
    await expect
      .poll(async () => (await tasks('logs_silent'))[0]?.status?.state, { timeout: 20_000 })
      .toBe(TaskState.TASK_STATE_RUNNING);
    const silent = read({ target: 'logs_silent' });
    const err = await silent.ended;
    expect(err?.code).toBe(status.FAILED_PRECONDITION);
    expect(err?.details).toMatch(/logs with driver none: its tasks' output is not kept/);
    expect(silent.entries).toEqual([]);
    await cluster.rpc(cluster.control.scaleService, { service: 'logs_capped', replicas: 0n });
    await cluster.rpc(cluster.control.scaleService, { service: 'logs_silent', replicas: 0n });
  });

  it('keeps the lines of tasks that ended, the partial last line included', async () => {
    await deploy(
      [
        'services:',
        '  finisher:',
        '    image: unused',
        `    command: ["sh", "-c", "echo one; sleep 0.2; printf 'no newline'"]`,
        '    deploy:',
        '      restart_policy:',
        '        condition: none',
        '',
      ].join('\n'),
    );
    await expect
      .poll(async () => (await tasks('logs_finisher'))[0]?.status?.state, { timeout: 20_000 })
      .toBe(TaskState.TASK_STATE_COMPLETE);
    // The partial line is shipped when the process's pipe closes, just after it exits.
    await expect
      .poll(async () => lines(await readAll({ target: 'logs_finisher' })), { timeout: 10_000 })
      .toEqual(['one', 'no newline']);
    expect(lines(await readAll({ target: 'logs_finisher', tail: 1 }))).toEqual(['no newline']);
  });

  it('follows new lines, picks up tasks that start meanwhile, and ends when the caller goes away', async () => {
    await deploy(
      [
        'services:',
        '  ticker:',
        '    image: unused',
        '    command: ["sh", "-c", "i=0; while true; do i=$$((i+1)); echo tick $$i; sleep 0.1; done"]',
        '    deploy:',
        '      replicas: 1',
        '',
      ].join('\n'),
    );
    await expect
      .poll(async () => (await readAll({ target: 'logs_ticker' })).length, { timeout: 20_000 })
      .toBeGreaterThan(2);
    const following = read({ target: 'logs_ticker', follow: true, tail: 0 });
    // tail 0: nothing stored, only what comes from now on, in order.
    await expect.poll(() => following.entries.length, { timeout: 10_000 }).toBeGreaterThan(5);
    const ticks = following.entries.map((e) => Number(e.line.split(' ')[1]));
    expect(ticks[0]).toBeGreaterThan(2);
    expect(ticks).toEqual(ticks.map((_, i) => (ticks[0] as number) + i));

    await cluster.rpc(cluster.control.scaleService, { service: 'logs_ticker', replicas: 2n });
    await expect
      .poll(() => following.entries.some((e) => e.slot === 2n && e.line === 'tick 3'), { timeout: 20_000 })
      .toBe(true);
    // Each followed task holds a blocking Redis connection on the manager while the call lasts, and no longer.
    const admin = cluster.managersRedis();
    await whenReady(admin, 5_000);
    const readers = async () =>
      ((await admin.call('CLIENT', 'LIST')) as string)
        .split('\n')
        .filter((l) => l.includes('name=flotilla-manager-logs')).length;
    expect(await readers()).toBeGreaterThanOrEqual(3);
    following.cancel();
    expect((await following.ended)?.code).toBe(status.CANCELLED);
    await expect.poll(readers, { timeout: 10_000 }).toBe(1);
    admin.disconnect();
  });

  it('with since, only lines written from then on', async () => {
    const before = await readAll({ target: 'logs_ticker' });
    const since = Date.now() + 1;
    await expect
      .poll(async () => (await readAll({ target: 'logs_ticker', sinceMs: BigInt(since) })).length, { timeout: 10_000 })
      .toBeGreaterThan(4);
    const after = await readAll({ target: 'logs_ticker', sinceMs: BigInt(since) });
    expect(after.every((e) => Number(e.atMs) >= since)).toBe(true);
    const seen = new Set(after.map((e) => `${e.taskId}/${e.line}`));
    expect(before.some((e) => seen.has(`${e.taskId}/${e.line}`))).toBe(false);
    await cluster.rpc(cluster.control.scaleService, { service: 'logs_ticker', replicas: 0n });
    await expect
      .poll(async () => (await tasks('logs_ticker')).every((t) => t.status?.state === TaskState.TASK_STATE_SHUTDOWN), {
        timeout: 20_000,
      })
      .toBe(true);
  });

  it('refuses an unknown service and an oversized tail, saying what to do', async () => {
    await expect(readAll({ target: 'logs_nope' })).rejects.toThrow(
      /no service or task "logs_nope": see flotilla service ls/,
    );
    await expect(readAll({ target: 'logs_printer', tail: 10_001 })).rejects.toThrow(/tail is at most 10000/);
    open = read({ target: 'logs_printer', follow: true });
  });
});

describe("the node's own Redis user", () => {
  it('ships as a user of its own', async () => {
    const admin = cluster.managersRedis();
    await whenReady(admin, 5_000);
    const user = nodeUserName(agent.credentials.nodeId);
    const shippers = async () =>
      ((await admin.call('CLIENT', 'LIST')) as string)
        .split('\n')
        .filter((l) => l.includes('name=flotilla-agent-logs'));
    expect(await admin.call('ACL', 'USERS')).toContain(user);
    const connected = await shippers();
    expect(connected.length).toBeGreaterThan(0);
    expect(connected.every((l) => l.includes(` user=${user} `))).toBe(true);
    admin.disconnect();
  });

  it('makes the users again when Redis restarts (it keeps none), and logs flow again', async () => {
    const user = nodeUserName(agent.credentials.nodeId);
    await cluster.redis.restart();
    const admin = cluster.managersRedis();
    await whenReady(admin, 10_000);
    await expect.poll(async () => (await admin.call('ACL', 'USERS')) as string[], { timeout: 15_000 }).toContain(user);
    await deploy(
      [
        'services:',
        '  echoer:',
        '    image: unused',
        '    command: ["sh", "-c", "while true; do echo alive; sleep 0.2; done"]',
        '',
      ].join('\n'),
    );
    await expect
      .poll(async () => lines(await readAll({ target: 'logs_echoer' })).includes('alive'), { timeout: 20_000 })
      .toBe(true);
    await cluster.rpc(cluster.control.scaleService, { service: 'logs_echoer', replicas: 0n });
    admin.disconnect();
  });

  it('deletes the user of a removed node', async () => {
    const admin = cluster.managersRedis();
    await whenReady(admin, 5_000);
    const user = nodeUserName(agent.credentials.nodeId);
    await agent.stop();
    agentStopped = true;
    await cluster.rpc(cluster.control.removeNode, { node: agent.credentials.nodeId, force: true });
    await expect
      .poll(async () => (await admin.call('ACL', 'USERS')) as string[], { timeout: 10_000 })
      .not.toContain(user);
    admin.disconnect();
  });
});
