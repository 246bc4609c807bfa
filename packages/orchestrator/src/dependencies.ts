import { Dependency_Condition, type Service, type Task, TaskHealth, TaskState } from '@flotilla/api';

/** What a service's tasks show of it, as far as the services that depend on it care. */
export interface DependencyState {
  exists: boolean;
  /** A task of its current spec is running. */
  started: boolean;
  /** A running task is healthy, or running with no healthcheck to wait for. */
  healthy: boolean;
  /** A task ended with exit code 0 (a one-shot job: migrations, seeding). */
  completed: boolean;
}

/** Summarises a service's tasks for its dependents. */
export function dependencyState(service: Service | undefined, tasks: Task[]): DependencyState {
  if (!service) return { exists: false, started: false, healthy: false, completed: false };
  const running = tasks.filter(
    (t) => t.desiredState <= TaskState.TASK_STATE_RUNNING && t.status?.state === TaskState.TASK_STATE_RUNNING,
  );
  const checked = (t: Task) => {
    const check = t.spec?.healthcheck;
    return Boolean(check?.probe?.http || check?.probe?.tcp) || ['CMD', 'CMD-SHELL'].includes(check?.test[0] ?? '');
  };
  return {
    exists: true,
    started: running.length > 0,
    healthy: running.some((t) => !checked(t) || t.status?.health === TaskHealth.TASK_HEALTH_HEALTHY),
    completed: tasks.some((t) => t.status?.state === TaskState.TASK_STATE_COMPLETE && t.status.exitCode === 0),
  };
}

/**
 * Why a service's tasks may not start yet (Compose's depends_on, honoured on the cluster): the first dependency
 * not met, or undefined when all are. An optional dependency (`required: false`) that does not exist is skipped.
 */
export function unmetDependency(
  service: Service,
  state: (qualifiedName: string) => DependencyState,
): string | undefined {
  for (const dep of service.spec?.dependsOn ?? []) {
    const s = state(dep.service);
    if (!s.exists) {
      if (!dep.required) continue;
      return `waiting for ${dep.service}, which is not deployed`;
    }
    switch (dep.condition) {
      case Dependency_Condition.CONDITION_SERVICE_HEALTHY:
        if (!s.healthy) return `waiting for ${dep.service} to be healthy`;
        break;
      case Dependency_Condition.CONDITION_SERVICE_COMPLETED_SUCCESSFULLY:
        if (!s.completed) return `waiting for ${dep.service} to complete successfully`;
        break;
      default:
        if (!s.started) return `waiting for ${dep.service} to start`;
    }
  }
  return undefined;
}
