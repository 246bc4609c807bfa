import { type Service, type Task, TaskState } from './gen/flotilla/v1/objects.js';
import { ServiceMode, type ServiceSpec } from './gen/flotilla/v1/service.js';

/** A job runs to completion (Docker's `replicated-job` and `global-job`): its tasks are not restarted on success. */
export function isJobMode(mode: ServiceMode | undefined): boolean {
  return mode === ServiceMode.SERVICE_MODE_REPLICATED_JOB || mode === ServiceMode.SERVICE_MODE_GLOBAL_JOB;
}

/** One task per eligible node: a global service or a global job. */
export function isGlobalMode(mode: ServiceMode | undefined): boolean {
  return mode === ServiceMode.SERVICE_MODE_GLOBAL || mode === ServiceMode.SERVICE_MODE_GLOBAL_JOB;
}

/** A replicated job's tasks at once and completions needed, with Docker's defaults (both: the replicas). */
export function jobLimits(spec: ServiceSpec | undefined): { maxConcurrent: bigint; totalCompletions: bigint } {
  const replicas = spec?.replicas ?? 1n;
  return {
    maxConcurrent: spec?.job?.maxConcurrent || replicas,
    totalCompletions: spec?.job?.totalCompletions || replicas,
  };
}

/** How far the current run of a job has gone (its tasks of the current spec version: the job's iteration). */
export interface JobProgress {
  /** Tasks of this run now running. */
  running: number;
  /** Slots (or nodes, for a global job) whose task completed. */
  completed: number;
  /** Completions the run needs: total_completions, or for a global job the nodes given a task so far. */
  total: number;
  /** The task that failed with no attempt left: the run has failed. */
  failed?: Task;
  /** Every completion reached. */
  finished: boolean;
}

/**
 * Where the current run of a job stands, from its tasks. The orchestrator marks a completed task with desired
 * state COMPLETE and a task that failed with no attempt left with desired state FAILED, so this needs neither the
 * restart policy nor the nodes.
 */
export function jobProgress(service: Service, tasks: readonly Task[]): JobProgress {
  const global = service.spec?.mode === ServiceMode.SERVICE_MODE_GLOBAL_JOB;
  const current = tasks.filter((t) => t.specVersion === service.specVersion);
  const key = (t: Task) => (global ? t.nodeId : String(t.slot));
  const done = new Set(current.filter((t) => t.status?.state === TaskState.TASK_STATE_COMPLETE).map(key));
  const total = global
    ? new Set(current.filter((t) => t.nodeId).map(key)).size
    : Number(jobLimits(service.spec).totalCompletions);
  const failed = current.find((t) => t.desiredState === TaskState.TASK_STATE_FAILED);
  return {
    running: current.filter((t) => t.status?.state === TaskState.TASK_STATE_RUNNING).length,
    completed: done.size,
    total,
    ...(failed ? { failed } : {}),
    finished: total > 0 && done.size >= total,
  };
}
