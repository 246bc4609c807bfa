import {
  Node,
  NodeSpec_Availability,
  NodeStatus_State,
  RestartPolicy_Condition,
  Service,
  ServiceMode,
  type ServiceSpec,
  Task,
  TaskState,
} from '@flotilla/api';
import type { ReconcileContext } from '../src/plan.js';

/** Builders for the orchestrator's tests: nodes, services and tasks as the store holds them. */
export function node(
  id: string,
  overrides: { state?: NodeStatus_State; availability?: NodeSpec_Availability; labels?: Record<string, string> } = {},
): Node {
  return Node.fromPartial({
    id,
    description: { hostname: id, os: 'linux', architecture: 'x86_64' },
    spec: {
      availability: overrides.availability ?? NodeSpec_Availability.AVAILABILITY_ACTIVE,
      labels: overrides.labels ?? {},
    },
    status: { state: overrides.state ?? NodeStatus_State.STATE_READY },
  });
}

export function service(spec: Partial<ServiceSpec> = {}, id = 'svc'): Service {
  return Service.fromPartial({
    id,
    specVersion: 1n,
    spec: {
      annotations: { name: 'st_web' },
      mode: ServiceMode.SERVICE_MODE_REPLICATED,
      replicas: 3n,
      container: { image: 'nginx' },
      restartPolicy: { condition: RestartPolicy_Condition.CONDITION_ANY, delayNs: 5_000_000_000n },
      updateConfig: { parallelism: 1n },
      ...spec,
    },
  });
}

let created = 0;
export function task(fields: Partial<Task> & { state?: TaskState }): Task {
  const { state, ...rest } = fields;
  created++;
  return Task.fromPartial({
    id: `t${created}`,
    serviceId: 'svc',
    // Made from the fixture service's current spec unless a test says otherwise.
    specVersion: 1n,
    desiredState: TaskState.TASK_STATE_RUNNING,
    createdAtMs: BigInt(created),
    status: { state: state ?? TaskState.TASK_STATE_RUNNING, timestampMs: 1_000n },
    ...rest,
  });
}

export function context(nodes: Node[], now = 10_000): ReconcileContext {
  let n = 0;
  return { now, nodes: new Map(nodes.map((x) => [x.id, x])), historyLimit: 5, newId: () => `new${++n}` };
}
