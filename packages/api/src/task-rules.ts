import { type Task, TaskState } from './gen/flotilla/v1/objects.js';

// The rules about a task's state that more than one package reads (orchestrator, scheduler, allocator, plan
// preview, logs, the CLI's `--wait`). Each is written once here so they cannot drift apart.

/**
 * The task will do nothing more: it completed, was shut down, failed or was rejected. REMOVE is a desired state,
 * never one a node reports, so it does not count.
 */
export function taskEnded(task: Task): boolean {
  const state = task.status?.state ?? TaskState.TASK_STATE_UNSPECIFIED;
  return state >= TaskState.TASK_STATE_COMPLETE && state !== TaskState.TASK_STATE_REMOVE;
}

/** The orchestrator still wants it to run (its desired state is not past running). */
export function taskMeantToRun(task: Task): boolean {
  return task.desiredState <= TaskState.TASK_STATE_RUNNING;
}

/** Meant to run and not ended: the task that fills its slot. */
export function taskLive(task: Task): boolean {
  return taskMeantToRun(task) && !taskEnded(task);
}

/** It ended badly: failed while running, or refused by its node. */
export function taskFailed(task: Task): boolean {
  const state = task.status?.state;
  return state === TaskState.TASK_STATE_FAILED || state === TaskState.TASK_STATE_REJECTED;
}

/** Meant to run and waiting for the scheduler to give it a node. */
export function taskPending(task: Task): boolean {
  return task.desiredState === TaskState.TASK_STATE_RUNNING && task.status?.state === TaskState.TASK_STATE_PENDING;
}

/** Assigned and not ended: it holds resources and host ports on its node. */
export function taskOccupiesNode(task: Task): boolean {
  const state = task.status?.state ?? TaskState.TASK_STATE_UNSPECIFIED;
  return state >= TaskState.TASK_STATE_ASSIGNED && state < TaskState.TASK_STATE_COMPLETE;
}

/** Its node has been told (or may have been): from here on only the node moves it on. */
export function taskHandedToNode(task: Task): boolean {
  return !!task.nodeId && (task.status?.state ?? TaskState.TASK_STATE_UNSPECIFIED) >= TaskState.TASK_STATE_ASSIGNED;
}
