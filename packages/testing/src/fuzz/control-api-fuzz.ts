import { ControlServiceService, DeployStackRequest, RotateCaRequest } from '@flotilla/api';
import { loadStackText, toStackSpec } from '@flotilla/stack';
import type { Client } from '@grpc/grpc-js';
import fc from 'fast-check';
import { type FuzzBudget, type FuzzResult, FuzzTally, inputs } from './fuzz-tally.js';
import { type CallOutcome, FuzzedManager, statusProblem, streamCall, unaryCall } from './fuzzed-manager.js';
import { type MethodDefinition, requestBytes } from './protobuf-inputs.js';
import { stackSamples } from './stack-file-fuzz.js';

const DEADLINE_MS = 10_000;
const METHODS = Object.values(ControlServiceService) as MethodDefinition[];

/** Real deploy requests (the fixture stacks as the CLI sends them), to mutate. */
function deploySeeds(): Uint8Array[] {
  const seeds: Uint8Array[] = [];
  for (const [i, text] of stackSamples().entries()) {
    try {
      const { stack } = loadStackText(text, { env: { TAG: '1' } });
      seeds.push(DeployStackRequest.encode({ stack: toStackSpec(stack, `s${i}`), prune: i % 2 === 0 }).finish());
    } catch {
      // A fixture that needs files beside it (configs, env files) is left out.
    }
  }
  return seeds;
}

/** The stack deployed before the run, so that requests naming its service reach a real one. */
const SEED_STACK = 'services:\n  web:\n    image: nginx:1\n    deploy:\n      replicas: 2\n';

/** Real requests for the methods that act on a service or the cluster, to mutate. */
function seedsFor(method: MethodDefinition, deploys: Uint8Array[]): Uint8Array[] {
  const s = ControlServiceService;
  const encode = (m: MethodDefinition, value: object) => new Uint8Array(m.requestSerialize(value as never));
  const empty = (m: MethodDefinition) => m.requestDeserialize(Buffer.alloc(0)) as object;
  const seeds: Record<string, object[]> = {
    [s.deployStack.path]: [],
    [s.scaleService.path]: [{ service: 'fuzzseed_web', replicas: 3n }],
    [s.updateService.path]: [
      { service: 'fuzzseed_web', image: 'nginx:2', envAdd: ['A=1'], envRm: ['B'], replicas: 1n, force: true },
    ],
    [s.updateCluster.path]: [
      { placementStrategy: 1, selfFenceTimeoutMs: 5_000n, taskHistoryLimit: 5, certExpiryMs: 86_400_000n },
    ],
    [s.listTasks.path]: [{ service: 'fuzzseed_web', stack: 'fuzzseed', node: '' }],
    [s.rebalanceService.path]: [{ service: 'fuzzseed_web' }],
    [s.rollbackService.path]: [{ service: 'fuzzseed_web' }],
  };
  if (method.path === s.deployStack.path || method.path === s.planStack.path) return deploys;
  return (seeds[method.path] ?? []).map((v) => encode(method, { ...empty(method), ...v }));
}

/**
 * Whether sending these bytes would do what an operator may legitimately do but what would end the run: a
 * decodable RotateCa starts a real CA rotation (the operator certificate of the run would then need renewing).
 */
function disruptive(method: MethodDefinition, bytes: Uint8Array): boolean {
  if (method !== ControlServiceService.rotateCa) return false;
  try {
    RotateCaRequest.decode(bytes);
    return true;
  } catch {
    return false;
  }
}

export interface ControlApiFuzzOptions extends FuzzBudget {
  /** A manager to fuzz (the run then leaves it running); by default one is started on its own etcd. */
  manager?: FuzzedManager;
}

/**
 * Random and mutated requests to every method of the control API, as an operator. Each call must end within
 * the deadline with a status that is not a handler's internal error and shows nothing of the server's insides;
 * after each, the manager still answers ListNodes; at the end every listing decodes and a normal deploy and
 * removal still work.
 */
export async function fuzzControlApi(options: ControlApiFuzzOptions): Promise<FuzzResult> {
  const tally = new FuzzTally('control-api', options);
  const manager = options.manager ?? (await FuzzedManager.start());
  const client = manager.operatorClient();
  const deploys = deploySeeds();
  const arbitrary = fc.oneof(
    ...METHODS.map((method) => requestBytes(method, seedsFor(method, deploys)).map((bytes) => ({ method, bytes }))),
  );
  try {
    const { stack } = loadStackText(SEED_STACK);
    const seedDeploy = DeployStackRequest.encode({ stack: toStackSpec(stack, 'fuzzseed'), prune: false }).finish();
    const deployed = await unaryCall(client, ControlServiceService.deployStack.path, seedDeploy, DEADLINE_MS);
    if (deployed.kind !== 'status' || deployed.code !== 0)
      throw new Error(`the seed deploy failed: ${JSON.stringify(deployed)}`);
    const recent: string[] = [];
    for (const { method, bytes } of inputs(arbitrary, tally)) {
      if (disruptive(method, bytes)) continue;
      tally.input();
      recent.push(`${method.path} (${bytes.length} bytes)`);
      if (recent.length > 5) recent.shift();
      const outcome = await (method.responseStream ? streamCall : unaryCall)(client, method.path, bytes, DEADLINE_MS);
      const input = { method: method.path, bytes };
      judge(tally, outcome, input);
      if (!(await stillServes(manager, client, tally, { ...input, before: recent }))) break;
    }
    if (manager.alive()) await checkConsistent(client, tally);
  } finally {
    client.close();
    if (!options.manager) await manager.stop();
  }
  return tally.done();
}

function judge(tally: FuzzTally, outcome: CallOutcome, input: unknown): void {
  if ((outcome.kind === 'status' && outcome.code === 0) || outcome.kind === 'open') tally.accept();
  if (outcome.kind === 'hang') tally.hang(`no answer in ${outcome.ms} ms`, input);
  const problem = statusProblem(outcome);
  if (problem) tally.violation(problem, input);
}

/** The manager runs and answers a ListNodes; if not, that is a crash and the run ends. */
async function stillServes(manager: FuzzedManager, client: Client, tally: FuzzTally, input: unknown): Promise<boolean> {
  if (!manager.alive()) {
    tally.crash(`the manager exited:\n${manager.daemon.output().slice(-2_000)}`, input);
    return false;
  }
  const probe = await unaryCall(client, ControlServiceService.listNodes.path, new Uint8Array(0), DEADLINE_MS);
  if (probe.kind !== 'status' || probe.code !== 0) {
    const said = manager.daemon.output().slice(-1_500);
    tally.crash(`the manager no longer answers ListNodes: ${JSON.stringify(probe)}; its last output:\n${said}`, input);
    return false;
  }
  return true;
}

/**
 * What the fuzzing left in the store still reads (every listing decodes on the manager and here) and the
 * manager still writes: a small stack deploys and is removed again.
 */
async function checkConsistent(client: Client, tally: FuzzTally): Promise<void> {
  const s = ControlServiceService;
  for (const method of [s.listNodes, s.listServices, s.listTasks, s.listStacks, s.getCluster]) {
    const outcome = await unaryCall(client, method.path, new Uint8Array(0), DEADLINE_MS);
    if (outcome.kind !== 'status' || outcome.code !== 0) {
      tally.crash(`${method.path} fails after the run: ${JSON.stringify(outcome)}`);
    }
  }
  const { stack } = loadStackText('services:\n  web:\n    image: nginx:1\n');
  const deploy = DeployStackRequest.encode({ stack: toStackSpec(stack, 'fuzzcheck'), prune: false }).finish();
  const deployed = await unaryCall(client, s.deployStack.path, deploy, DEADLINE_MS);
  const removed = await unaryCall(
    client,
    s.removeStack.path,
    s.removeStack.requestSerialize({ name: 'fuzzcheck' } as never),
    DEADLINE_MS,
  );
  for (const [what, outcome] of [
    ['deploy', deployed],
    ['stack removal', removed],
  ] as const) {
    if (outcome.kind !== 'status' || outcome.code !== 0) {
      tally.crash(`a normal ${what} fails after the run: ${JSON.stringify(outcome)}`);
    }
  }
}
