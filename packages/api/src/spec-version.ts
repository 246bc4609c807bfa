import type { Service, Task } from './gen/flotilla/v1/objects.js';

/**
 * Whether a task runs the service's current spec: it was made from the current version, or from an older one that
 * a rollback brought back (`same_task_spec_versions`). The orchestrator replaces the others; `stack deploy --wait`
 * counts only these.
 */
export function runsCurrentSpec(service: Service, task: Task): boolean {
  return task.specVersion === service.specVersion || service.sameTaskSpecVersions.includes(task.specVersion);
}
