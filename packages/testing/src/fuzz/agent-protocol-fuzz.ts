import { AgentSession, joinCluster, type NodeCredentials } from '@flotilla/agent';
import {
  ControlServiceService,
  DispatcherServiceService,
  JoinRequest,
  ListNodesResponse,
  NodeCaServiceService,
  NodeStatus_State,
  RenewRequest,
  SessionRequest,
  TaskState,
} from '@flotilla/api';
import { createKeyAndCsr } from '@flotilla/pki';
import { tempDir } from '@flotilla/test-servers';
import type { Client } from '@grpc/grpc-js';
import fc from 'fast-check';
import { type FuzzBudget, type FuzzResult, FuzzTally, inputs, within } from './fuzz-tally.js';
import { bidiCall, type CallOutcome, FuzzedManager, settleStream, statusProblem, unaryCall } from './fuzzed-manager.js';
import { type MethodDefinition, requestBytes } from './protobuf-inputs.js';

const DEADLINE_MS = 10_000;

/** Real session messages, as an agent sends them, to mutate. */
function sessionSeeds(): Uint8Array[] {
  return [
    SessionRequest.encode(
      SessionRequest.fromPartial({ description: { hostname: 'n', os: 'linux', architecture: 'x86_64', nanoCpus: 1n } }),
    ).finish(),
    SessionRequest.encode({ heartbeat: { sentAtMs: BigInt(Date.now()) } }).finish(),
    SessionRequest.encode(
      SessionRequest.fromPartial({
        status: { updates: [{ taskId: 'abc', status: { state: TaskState.TASK_STATE_RUNNING, message: 'started' } }] },
      }),
    ).finish(),
    SessionRequest.encode({ capabilities: { overlay: true, probePort: 4000, managerAddress: '127.0.0.1:1' } }).finish(),
    SessionRequest.encode({ goodbye: { backWithinMs: 10_000n } }).finish(),
  ];
}

type AgentInput =
  | { rpc: 'session'; messages: Uint8Array[]; halfClose: boolean }
  | { rpc: 'join' | 'renew'; bytes: Uint8Array };

function agentInputs(token: string, csrPem: string): fc.Arbitrary<AgentInput> {
  const session = DispatcherServiceService.session as MethodDefinition;
  const join = NodeCaServiceService.join as MethodDefinition;
  const renew = NodeCaServiceService.renew as MethodDefinition;
  const joinSeed = JoinRequest.encode(
    JoinRequest.fromPartial({ token, csrPem, description: { hostname: 'fuzzed' } }),
  ).finish();
  return fc.oneof(
    {
      arbitrary: fc.record({
        rpc: fc.constant('session' as const),
        messages: fc.array(requestBytes(session, sessionSeeds()), { minLength: 1, maxLength: 5 }),
        halfClose: fc.boolean(),
      }),
      weight: 6,
    },
    { arbitrary: requestBytes(join, [joinSeed]).map((bytes) => ({ rpc: 'join' as const, bytes })), weight: 1 },
    {
      arbitrary: requestBytes(renew, [RenewRequest.encode({ csrPem }).finish()]).map((bytes) => ({
        rpc: 'renew' as const,
        bytes,
      })),
      weight: 1,
    },
  );
}

/** One fuzzed session: the messages in order, then a half-close (or not), settled as any stream is. */
async function sessionCall(client: Client, messages: Uint8Array[], halfClose: boolean): Promise<CallOutcome> {
  const call = bidiCall(client, DispatcherServiceService.session.path);
  const started = Date.now();
  const settled = settleStream(call, started, DEADLINE_MS);
  for (const m of messages) call.write(Buffer.from(m));
  if (halfClose) call.end();
  return settled;
}

/** A well-behaved node: joined, holding its session, heartbeating. */
async function goodNode(manager: FuzzedManager, token: string, stateDir: string): Promise<AgentSession> {
  const credentials = await joinCluster({
    manager: manager.address,
    token,
    stateDir,
    description: { hostname: 'good' },
  });
  const session = new AgentSession(credentials, { backoffMs: { first: 100, max: 1_000 } });
  session.start();
  const deadline = Date.now() + 15_000;
  while (session.state !== 'connected') {
    if (Date.now() > deadline) throw new Error(`the well-behaved node did not connect (${session.state})`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return session;
}

/** The good node is listed ready, and its session is up and still heartbeating. */
async function goodNodeKept(operator: Client, good: AgentSession, beatsBefore: number): Promise<string | undefined> {
  if (good.state !== 'connected') return `the well-behaved node's session is ${good.state}`;
  const deadline = Date.now() + 10_000;
  while (good.heartbeatsSent <= beatsBefore) {
    if (Date.now() > deadline) return 'the well-behaved node sent no heartbeat for 10 s';
    await new Promise((r) => setTimeout(r, 100));
  }
  const listed = await new Promise<ListNodesResponse | string>((resolve) =>
    operator.makeUnaryRequest(
      ControlServiceService.listNodes.path,
      (b: Buffer) => b,
      (b: Buffer) => ListNodesResponse.decode(b),
      Buffer.alloc(0),
      { deadline: Date.now() + DEADLINE_MS },
      (err, value) => resolve(err ? err.message : (value as ListNodesResponse)),
    ),
  );
  if (typeof listed === 'string') return `ListNodes failed: ${listed}`;
  const node = listed.nodes.find((n) => n.description?.hostname === 'good');
  if (node?.status?.state !== NodeStatus_State.STATE_READY) return `the well-behaved node is ${node?.status?.state}`;
  return undefined;
}

/**
 * Random and mutated session messages (and Join and Renew requests) from a joined node's certificate to a
 * manager process, while a well-behaved node holds its own session. Each call ends within the deadline or is a
 * session the manager keeps open; no call ends in a handler's internal error; the manager keeps answering; and
 * at the end the well-behaved node is still connected, heartbeating and ready.
 */
export async function fuzzAgentProtocol(budget: FuzzBudget): Promise<FuzzResult> {
  const tally = new FuzzTally('agent-protocol', budget);
  const manager = await FuzzedManager.start();
  const dir = tempDir('fuzz-agent');
  const operator = manager.operatorClient();
  let good: AgentSession | undefined;
  let fuzzed: Client | undefined;
  try {
    const token = await manager.workerToken();
    good = await goodNode(manager, token, `${dir.path}/good`);
    const creds: NodeCredentials = await joinCluster({
      manager: manager.address,
      token,
      stateDir: `${dir.path}/fuzzed`,
    });
    fuzzed = manager.client(Buffer.from(creds.caCertPem), Buffer.from(creds.keyPem), Buffer.from(creds.certPem));
    const { csrPem } = await createKeyAndCsr();
    const beatsBefore = good.heartbeatsSent;
    for (const input of inputs(agentInputs(token, csrPem), tally)) {
      tally.input();
      const outcome =
        input.rpc === 'session'
          ? await sessionCall(fuzzed, input.messages, input.halfClose)
          : await unaryCall(fuzzed, NodeCaServiceService[input.rpc].path, input.bytes, DEADLINE_MS);
      if ((outcome.kind === 'status' && outcome.code === 0) || outcome.kind === 'open') tally.accept();
      if (outcome.kind === 'hang') tally.hang(`no answer in ${outcome.ms} ms`, input);
      const problem = statusProblem(outcome);
      if (problem) tally.violation(problem, input);
      if (!manager.alive()) {
        tally.crash(`the manager exited:\n${manager.daemon.output().slice(-2_000)}`, input);
        break;
      }
      const probe = await unaryCall(operator, ControlServiceService.listNodes.path, new Uint8Array(0), DEADLINE_MS);
      if (probe.kind !== 'status' || probe.code !== 0) {
        tally.crash(`the manager no longer answers ListNodes: ${JSON.stringify(probe)}`, input);
        break;
      }
    }
    if (manager.alive()) {
      const lost = await within(goodNodeKept(operator, good, beatsBefore), 20_000, 'the check did not end in 20 s');
      if (lost) tally.crash(`the well-behaved node lost its session: ${lost}`);
    }
  } finally {
    good?.stop();
    fuzzed?.close();
    operator.close();
    await manager.stop();
    dir.remove();
  }
  return tally.done();
}
