import {
  Node,
  NodeSpec_Availability,
  NodeStatus_State,
  PlannedService_Action,
  PlannedService_Tasks,
  Service,
  type StackSpec,
  Task,
  TaskState,
} from '@flotilla/api';
import { loadStackText, toStackSpec } from '@flotilla/stack';
import type { Versioned } from '@flotilla/store';
import { describe, expect, it } from 'vitest';
import { type PlanInput, planFrom } from './stack-plan.js';

const GiB = 1024n ** 3n;

function node(id: string, zone: string, o: { availability?: NodeSpec_Availability; down?: boolean } = {}): Node {
  return Node.fromPartial({
    id,
    description: { hostname: `h-${id}`, os: 'linux', architecture: 'x86_64', memoryBytes: 8n * GiB },
    spec: { availability: o.availability ?? NodeSpec_Availability.AVAILABILITY_ACTIVE, labels: { zone } },
    status: { state: o.down ? NodeStatus_State.STATE_DOWN : NodeStatus_State.STATE_READY },
  });
}

const nodes = [node('n1', 'a'), node('n2', 'a'), node('n3', 'b')];

const stack = (yaml: string): StackSpec => toStackSpec(loadStackText(yaml).stack, 's');

/** The stack's services as a deploy would have stored them (spec version 1, IDs from their names). */
function stored(yaml: string): Versioned<Service>[] {
  return stack(yaml).services.map((spec) => {
    const id = `id-${spec.annotations?.name}`;
    return { id, version: 7n, value: Service.fromPartial({ id, spec, specVersion: 1n }) };
  });
}

/** A task running on a node, reserving memory. */
function running(serviceId: string, slot: bigint, nodeId: string, memory: bigint): Task {
  return Task.fromPartial({
    id: `${serviceId}.${slot}`,
    serviceId,
    slot,
    nodeId,
    specVersion: 1n,
    desiredState: TaskState.TASK_STATE_RUNNING,
    status: { state: TaskState.TASK_STATE_RUNNING },
    resources: { reservations: { memoryBytes: memory } },
  });
}

let ids = 0;
const make = { now: 1n, newId: () => `new-${++ids}` };

describe('planFrom', () => {
  const big =
    'services:\n  big:\n    image: x\n    deploy:\n      replicas: 3\n      resources: { reservations: { memory: 6G } }\n';

  it('counts the room a scale-down frees for the tasks the same deploy adds', () => {
    const cluster: PlanInput = {
      services: stored(big),
      nodes,
      tasks: [
        running('id-s_big', 1n, 'n1', 6n * GiB),
        running('id-s_big', 2n, 'n2', 6n * GiB),
        running('id-s_big', 3n, 'n3', 6n * GiB),
      ],
      strategy: 'spread',
    };
    const next = stack(
      `${big.replace('replicas: 3', 'replicas: 1')}  other:\n    image: y\n    deploy:\n      replicas: 2\n      resources: { reservations: { memory: 6G } }\n`,
    );
    const plan = planFrom(cluster, next, false, make);
    const [bigPlan, other] = plan.services;
    expect(bigPlan).toMatchObject({
      action: PlannedService_Action.ACTION_UPDATE,
      tasks: PlannedService_Tasks.TASKS_SCALED,
      replicasBefore: 3n,
      replicasAfter: 1n,
      placed: [],
    });
    // Slots 2 and 3 stop, so n2 and n3 have room again; n1 keeps slot 1.
    expect(other?.placed.map((p) => p.hostname).sort()).toEqual(['h-n2', 'h-n3']);
    expect(other?.pending).toEqual([]);
  });

  it('previews a new global service on every node that would take it', () => {
    const cluster: PlanInput = {
      services: [],
      nodes: [
        ...nodes,
        node('n4', 'a', { availability: NodeSpec_Availability.AVAILABILITY_DRAIN }),
        node('n5', 'a', { down: true }),
      ],
      tasks: [],
      strategy: 'spread',
    };
    const plan = planFrom(
      cluster,
      stack(
        'services:\n  mon:\n    image: m\n    deploy:\n      mode: global\n      placement: { constraints: [node.labels.zone==a] }\n',
      ),
      false,
      make,
    );
    expect(plan.services[0]?.placed.map((p) => [p.hostname, p.tasks])).toEqual([
      ['h-n1', 1],
      ['h-n2', 1],
    ]);
    expect(plan.services[0]?.replicasAfter).toBeUndefined();
  });

  it('refuses what the deploy refuses', () => {
    const cluster: PlanInput = { services: [], nodes, tasks: [], strategy: 'spread' };
    const spec = stack(big);
    expect(() => planFrom(cluster, { ...spec, name: 'other' }, false, make)).toThrow(/not named for stack other/);
  });
});

describe('planFrom: sidecars', () => {
  it("previews each sidecar on its main task's node, pending where that node does not meet its constraints", () => {
    const cluster: PlanInput = { services: [], nodes, tasks: [], strategy: 'spread' };
    const plan = planFrom(
      cluster,
      stack(
        'services:\n  web:\n    image: w\n    deploy: { replicas: 3 }\n  side:\n    image: s\n    network_mode: "service:web"\n    deploy: { placement: { constraints: [node.labels.zone==a] } }\n',
      ),
      false,
      make,
    );
    const [web, side] = plan.services;
    expect(web?.placed.map((p) => [p.hostname, p.tasks])).toEqual([
      ['h-n1', 1],
      ['h-n2', 1],
      ['h-n3', 1],
    ]);
    // Beside web on the zone-a nodes; on n3 (zone b) the sidecar would wait, and never go to another node instead.
    expect(side?.placed.map((p) => [p.hostname, p.tasks])).toEqual([
      ['h-n1', 1],
      ['h-n2', 1],
    ]);
    expect(side?.pending).toEqual([
      { tasks: 1, reason: expect.stringMatching(/^no suitable node \(node n3 of its main task .*zone==a/) },
    ]);
  });
});
