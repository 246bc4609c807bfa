// A rolling update at scale: a manager process (real etcd, gRPC, mutual TLS) and 50 hollow nodes in this
// process, whose fake runtime reports a task running `--start-ms` after it is assigned. A 100-replica service is
// updated to a new image with parallelism 10, monitor 1 s, delay 0. Measures the seconds from the deploy call
// until the service's update status says completed, against the theoretical minimum: batches × (task start +
// monitor). Prints one JSON line of figures last. Run: npm run bench -- update

import { parseArgs } from 'node:util';
import {
  type ControlServiceClient,
  NodeSpec_Role,
  type Service,
  ServiceMode,
  ServiceSpec,
  TaskState,
  UpdateStatus_State,
} from '@flotilla/api';
import { controlClient } from '@flotilla/cli';
import { HollowNodes, ManagedProcess, startDaemon, startEtcd, tempDir } from '@flotilla/testing';
import { Metadata, type ServiceError } from '@grpc/grpc-js';
import { bin, log, root } from './lib.js';

const { values: args } = parseArgs({
  options: {
    nodes: { type: 'string', default: '50' },
    replicas: { type: 'string', default: '100' },
    parallelism: { type: 'string', default: '10' },
    'monitor-ms': { type: 'string', default: '1000' },
    'start-ms': { type: 'string', default: '100' },
  },
});
const NODES = Number(args.nodes);
const REPLICAS = Number(args.replicas);
const PARALLELISM = Number(args.parallelism);
const MONITOR_MS = Number(args['monitor-ms']);
const START_MS = Number(args['start-ms']);

const etcd = await startEtcd();
const dirs = [tempDir('bench-update-manager'), tempDir('bench-update-cli')];
const cliDir = dirs[1]?.path as string;
const env = { ...process.env, FLOTILLA_CONFIG_DIR: cliDir, LOG_LEVEL: 'warn' };
const manager = startDaemon(
  bin,
  ['manager', 'start', '--etcd', etcd.url, '--listen', '127.0.0.1:0', '--state-dir', dirs[0]?.path as string],
  { cwd: root, env },
);
let hollow: HollowNodes | undefined;
let control: ControlServiceClient | undefined;

function call<Req, Res>(
  method: (req: Req, md: Metadata, o: object, cb: (e: ServiceError | null, r: Res) => void) => unknown,
  req: Req,
): Promise<Res> {
  return new Promise((resolve, reject) =>
    method.call(control, req, new Metadata(), { deadline: Date.now() + 30_000 }, (err, res) =>
      err ? reject(err) : resolve(res),
    ),
  );
}

function spec(image: string): ServiceSpec {
  return ServiceSpec.fromPartial({
    annotations: { name: 'bench_web' },
    stack: 'bench',
    mode: ServiceMode.SERVICE_MODE_REPLICATED,
    replicas: BigInt(REPLICAS),
    container: { image },
    updateConfig: { parallelism: BigInt(PARALLELISM), monitorNs: BigInt(MONITOR_MS) * 1_000_000n, delayNs: 0n },
  });
}

async function deploy(image: string): Promise<void> {
  const stack = { name: 'bench', services: [spec(image)], networks: [], volumes: [], configs: [], secrets: [] };
  await call(control!.deployStack, { stack, prune: false });
}

async function service(): Promise<Service> {
  return (await call(control!.getService, { service: 'bench_web' })).service as Service;
}

try {
  const address = (await manager.waitFor(/listening on (127\.0\.0\.1:\d+)/))[1] as string;
  // The operator credentials and address the manager wrote to the CLI's config directory.
  control = controlClient(cliDir);
  const token = await call(control.getJoinToken, { role: NodeSpec_Role.ROLE_WORKER, rotate: false });
  hollow = await HollowNodes.start({ manager: address, token: token.token, count: NODES, startDelayMs: START_MS });
  const runningAll = async () => {
    const { tasks } = await call(control!.listTasks, { service: 'bench_web', stack: '', node: '' });
    return tasks.filter(
      (t) => t.desiredState === TaskState.TASK_STATE_RUNNING && t.status?.state === TaskState.TASK_STATE_RUNNING,
    );
  };
  await deploy('app:1');
  for (;;) {
    if ((await runningAll()).length === REPLICAS) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  log(`${REPLICAS} tasks running on ${NODES} hollow nodes`);
  const t0 = performance.now();
  await deploy('app:2');
  for (;;) {
    const s = await service();
    if (s.updateStatus?.state === UpdateStatus_State.STATE_COMPLETED && s.updateStatus.specVersion === s.specVersion)
      break;
    if (performance.now() - t0 > 600_000) throw new Error(`update not done: ${JSON.stringify(s.updateStatus)}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  const updateS = Math.round((performance.now() - t0) / 10) / 100;
  const batches = Math.ceil(REPLICAS / PARALLELISM);
  const theoreticalS = Math.round(batches * (START_MS + MONITOR_MS)) / 1000;
  const running = await runningAll();
  if (running.length !== REPLICAS || running.some((t) => t.spec?.image !== 'app:2')) {
    throw new Error(`after the update ${running.length} run, not all on app:2`);
  }
  log(`update done in ${updateS} s; ${batches} batches × (${START_MS} ms start + ${MONITOR_MS} ms monitor)`);
  console.log(
    JSON.stringify({
      bench: 'update',
      replicas: REPLICAS,
      update_s: updateS,
      theoretical_min_s: theoreticalS,
      ratio: Math.round((updateS / theoreticalS) * 100) / 100,
    }),
  );
} finally {
  await manager.stop();
  control?.close();
  hollow?.stop();
  await etcd.destroy();
  await ManagedProcess.stopAll();
  for (const d of dirs) d.remove();
}
