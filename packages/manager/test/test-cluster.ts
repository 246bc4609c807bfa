import { ControlServiceClient, NodeStatus_State, type StackSpec } from '@flotilla/api';
import { MANAGER_SERVER_NAME } from '@flotilla/pki';
import { loadStackText, toStackSpec } from '@flotilla/stack';
import { HollowNodes, type HollowOptions, startEtcd, type TestServer, tempDir } from '@flotilla/testing';
import { credentials, Metadata, type ServiceError } from '@grpc/grpc-js';
import { type ManagerOptions, type RunningManager, startManager } from '../src/manager.js';

type Unary<Req, Res> = (r: Req, m: Metadata, o: object, cb: (e: ServiceError | null, v: Res) => void) => unknown;

/** For integration tests: a real etcd, a manager on it, and a control client with the operator's certificate. */
export interface TestCluster {
  etcd: TestServer;
  manager: RunningManager;
  control: ControlServiceClient;
  /** Calls a control RPC; a refusal rejects with the manager's message. */
  rpc<Req, Res>(method: Unary<Req, Res>, request: Req): Promise<Res>;
  /** A temporary directory, the same for the same label, removed by stop(). */
  dir(label: string): string;
  /**
   * A further manager on the same etcd, joined with the manager token, with the first one's options (its election
   * TTL, say) and state under dir(label). The caller stops it (before stop()).
   */
  joinManager(label: string): Promise<RunningManager>;
  stop(): Promise<void>;
}

/** A control client with the operator certificate `manager` wrote, to the manager at `address`. */
export function operatorClient(manager: RunningManager, address: string): ControlServiceClient {
  const { operator, ca } = manager.identity;
  return new ControlServiceClient(
    address,
    credentials.createSsl(Buffer.from(ca.certPem), Buffer.from(operator.keyPem), Buffer.from(operator.certPem)),
    { 'grpc.ssl_target_name_override': MANAGER_SERVER_NAME },
  );
}

/** Calls a control RPC with a 10 s deadline; a refusal rejects with the manager's message. */
export function rpc<Req, Res>(client: ControlServiceClient, method: Unary<Req, Res>, request: Req): Promise<Res> {
  return new Promise((resolve, reject) =>
    method.call(client, request, new Metadata(), { deadline: Date.now() + 10_000 }, (err, value) =>
      err ? reject(new Error(err.details)) : resolve(value),
    ),
  );
}

/** `options` go to the manager (Redis for logs, say) on top of the test's etcd, address and directories. */
export async function startTestCluster(
  label: string,
  options: Partial<Omit<ManagerOptions, 'etcd' | 'stateDir' | 'cliConfigDir'>> = {},
): Promise<TestCluster> {
  const dirs = new Map<string, { path: string; remove(): void }>();
  const dir = (name: string) => {
    const d = dirs.get(name) ?? tempDir(`${label}-${name}`);
    dirs.set(name, d);
    return d.path;
  };
  const etcd = await startEtcd();
  const manager = await startManager({
    etcd: { endpoints: [etcd.url] },
    listen: '127.0.0.1:0',
    ...options,
    stateDir: dir('manager'),
    cliConfigDir: dir('cli'),
  });
  const control = operatorClient(manager, manager.address);
  return {
    etcd,
    manager,
    control,
    dir,
    rpc: (method, request) => rpc(control, method, request),
    joinManager: (name) =>
      startManager({
        etcd: { endpoints: [etcd.url] },
        listen: '127.0.0.1:0',
        ...options,
        stateDir: dir(name),
        cliConfigDir: dir(`${name}-cli`),
        join: { manager: manager.address, token: manager.identity.tokens.manager },
      }),
    async stop() {
      control.close();
      await manager.stop();
      await etcd.destroy();
      for (const d of dirs.values()) d.remove();
    },
  };
}

/**
 * `count` hollow nodes named `NAME-i` joined to the manager as workers, resolved once every one of them is ready
 * (10 s at most). `options` go to HollowNodes (labels, a failure rate).
 */
export async function readyHollowNodes(
  manager: RunningManager,
  count: number,
  name: string,
  options: Partial<Omit<HollowOptions, 'manager' | 'token' | 'count' | 'hostname'>> = {},
): Promise<HollowNodes> {
  const group = await HollowNodes.start({
    manager: manager.address,
    token: manager.identity.tokens.worker,
    count,
    hostname: (i) => `${name}-${i}`,
    ...options,
  });
  const ids = new Set(group.nodes.map((n) => n.credentials.nodeId));
  const deadline = Date.now() + 10_000;
  const ready = async () =>
    (await manager.store.list('nodes')).items.filter(
      (n) => ids.has(n.id) && n.value.status?.state === NodeStatus_State.STATE_READY,
    ).length;
  while ((await ready()) < count) {
    if (Date.now() > deadline) {
      group.stop();
      throw new Error(`hollow nodes ${name} did not become ready`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return group;
}

/**
 * A stack file's spec for the agents of these tests, which run tasks as plain processes: every service allows
 * such nodes, as `x-flotilla: { allow_process_executor: true }` says in a file; otherwise the scheduler refuses them.
 */
export function processStack(yaml: string, name: string): StackSpec {
  const stack = toStackSpec(loadStackText(yaml).stack, name);
  for (const service of stack.services) if (service.placement) service.placement.allowProcessExecutor = true;
  return stack;
}
