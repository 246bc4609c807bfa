import { AgentSession, joinCluster } from '@flotilla/agent';
import { DispatcherServiceClient, TaskState, TaskStatusUpdate } from '@flotilla/api';
import { MANAGER_SERVER_NAME } from '@flotilla/pki';
import { credentials, type ServiceError, status } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestCluster, type TestCluster } from '../test/test-cluster.js';
import type { RunningManager } from './manager.js';

let cluster: TestCluster;
let manager: RunningManager;
let dir: TestCluster['dir'];
const sessions: AgentSession[] = [];

beforeAll(async () => {
  cluster = await startTestCluster('limits');
  ({ manager, dir } = cluster);
});

afterAll(async () => {
  for (const s of sessions) s.stop();
  await cluster?.stop();
});

describe('message limits', () => {
  it('refuses an oversized message on one session without disturbing the others', async () => {
    const join = () =>
      joinCluster({ manager: manager.address, token: manager.identity.tokens.worker, stateDir: dir('agent') });
    const good = await join();
    const goodSession = new AgentSession(good);
    sessions.push(goodSession);
    goodSession.start();
    await expect.poll(() => manager.dispatcher()?.connectedNodes(), { timeout: 5_000 }).toContain(good.nodeId);

    const bad = await join();
    const client = new DispatcherServiceClient(
      manager.address,
      credentials.createSsl(Buffer.from(bad.caCertPem), Buffer.from(bad.keyPem), Buffer.from(bad.certPem)),
      { 'grpc.ssl_target_name_override': MANAGER_SERVER_NAME },
    );
    const stream = client.session();
    const failed = new Promise<ServiceError>((resolve) => stream.on('error', resolve));
    stream.on('data', () => undefined);
    // 5 MiB in one status batch: over the manager's 4 MiB limit on a message.
    stream.write({
      status: {
        updates: [
          TaskStatusUpdate.fromPartial({
            taskId: 'x',
            status: { state: TaskState.TASK_STATE_RUNNING, message: 'x'.repeat(5 * 1024 * 1024) },
          }),
        ],
      },
    });
    expect((await failed).code).toBe(status.RESOURCE_EXHAUSTED);
    client.close();

    // The other node's session is untouched and keeps heartbeating.
    const beats = goodSession.heartbeatsSent;
    await expect.poll(() => goodSession.heartbeatsSent, { timeout: 5_000 }).toBeGreaterThan(beats);
    expect(goodSession.state).toBe('connected');
    expect(manager.dispatcher()?.connectedNodes()).toContain(good.nodeId);
  });
});
