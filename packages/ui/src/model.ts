/*
 * What the UI server sends the page, and what the page sends back: the one contract between
 * `packages/ui/src/server` (Node: talks to the control API with the operator's credentials) and
 * `packages/ui/src/page` (the browser). Plain JSON: numbers, not bigints; times as Unix milliseconds; state and
 * enum words in lower case as the docker CLI prints them (`running`, `drain`, `rollback_completed`).
 *
 * The page's DOM contract the browser tests rely on is at the end of this file.
 */

/** A node's column. Managers that run no agent are not nodes here (they show in `cluster.managers`). */
export interface UiNode {
  id: string;
  hostname: string;
  role: 'manager' | 'worker';
  /** `ready`, `down`, `disconnected` or `unknown`. */
  status: string;
  /** `active`, `pause` or `drain`. */
  availability: string;
  /** `Leader`, `Reachable`, `Unreachable`, or empty for a worker. */
  managerStatus: string;
  address: string;
  labels: Record<string, string>;
  /** `containerd` or `process`. */
  executor: string;
  capacity: Resources;
  /** The reservations of the tasks the node is meant to run (desired state running or before it). */
  reserved: Resources;
  updatedAt: number;
}

export interface Resources {
  nanoCpus: number;
  memoryBytes: number;
}

/** A task's card, in its node's column (or in the "unassigned" column while pending). */
export interface UiTask {
  id: string;
  serviceId: string;
  serviceName: string;
  /** 1..replicas; 0 for a global service's task. */
  slot: number;
  /** SERVICE.SLOT, or SERVICE.NODE-ID for a global task (docker's task name). */
  name: string;
  /** Empty while not assigned. */
  nodeId: string;
  /** `new`, `pending`, `assigned`, …, `running`, `complete`, `shutdown`, `failed`, `rejected`, `orphaned`. */
  state: string;
  desiredState: string;
  /** `starting`, `healthy`, `unhealthy`, or empty when the service has no health check. */
  health: string;
  exitCode: number;
  /** The task's error, or why a pending task waits. Never secret content (the control API already strips it). */
  error: string;
  message: string;
  image: string;
  specVersion: number;
  /** When the current state was reached. */
  stateSince: number;
  createdAt: number;
  /** A sidecar's main task, when this task is a sidecar. */
  mainTaskId: string;
}

/** Where a rolling update (or its rollback) stands. */
export interface UiUpdate {
  /** Empty (never updated), `updating`, `paused`, `completed`, `rollback_started`, `rollback_paused`, `rollback_completed`. */
  state: string;
  message: string;
  startedAt: number;
  completedAt: number;
  /** The spec version being rolled out. */
  specVersion: number;
  /** Slots whose running task is of `specVersion`, of all slots (the progress bar). */
  slotsDone: number;
  slotsTotal: number;
  /** `update_config.parallelism` (0: all at once): the bar is drawn in batches of it. */
  parallelism: number;
}

export interface UiRevision {
  specVersion: number;
  /** When a newer spec replaced it (0 for the current one). */
  replacedAt: number;
  image: string;
}

export interface UiService {
  id: string;
  name: string;
  stack: string;
  /** `replicated`, `global`, `replicated job`, `global job`. */
  mode: string;
  image: string;
  running: number;
  desired: number;
  /** Jobs only: completed tasks of this run, and how many it needs. */
  completed: number;
  completions: number;
  /** Published ports as docker lists them (`*:8080->80/tcp`). */
  ports: string;
  specVersion: number;
  update: UiUpdate;
  /** Newest first; the first is the current spec. */
  revisions: UiRevision[];
  /**
   * The last change: the previous spec against the current one, one line per changed field, each line
   * `path: old → new` (e.g. `container.image: nginx:1.26 → nginx:1.27`). Empty when there is no previous spec.
   */
  lastChange: string[];
  updatedAt: number;
}

export interface UiCluster {
  id: string;
  /** The manager the UI server talks to, and who leads. */
  managers: { id: string; address: string; leader: boolean; reachable: boolean }[];
}

/** One point of the "tasks running per service" chart: the server samples every `SAMPLE_EVERY_MS`. */
export interface UiSample {
  at: number;
  /** Running tasks per service ID. */
  running: Record<string, number>;
}

export const SAMPLE_EVERY_MS = 5_000;
/** How much history the server keeps and sends in the snapshot (15 minutes). */
export const SAMPLES_KEPT = 180;

/** A cluster event, from the control API's event log (`flotilla events`). */
export interface UiEvent {
  at: number;
  /** `service`, `task`, `node`, `leader`, `certificate`. */
  type: string;
  action: string;
  /** The object's name (service name, task name, hostname). */
  actor: string;
  message: string;
}

/*
 * The stream: GET /api/stream answers `text/event-stream`. Each message's `event:` names its type and `data:` is
 * one JSON line:
 *   snapshot  StreamSnapshot: everything, first; again after the server lost and regained its watch (the page
 *             replaces its whole state, keeping scroll and focus).
 *   node      Change<UiNode>      service  Change<UiService>      task  Change<UiTask>
 *   cluster   UiCluster           sample   UiSample               event UiEvent
 * Comments (`: ping`) every 15 s keep proxies from closing it. The browser's EventSource reconnects by itself;
 * the server sends a fresh snapshot to every new connection.
 */
export interface StreamSnapshot {
  cluster: UiCluster;
  nodes: UiNode[];
  services: UiService[];
  tasks: UiTask[];
  samples: UiSample[];
  /** The newest events, oldest first (at most 200). */
  events: UiEvent[];
  /** Whether the control API's event log is reachable (the panel says so when not). */
  eventsAvailable: boolean;
}

export type Change<T> = { op: 'put'; object: T } | { op: 'delete'; id: string };

/*
 * Task detail: GET /api/tasks/:id answers TaskDetail. GET /api/tasks/:id/logs answers `text/event-stream` with
 * `event: line` messages (data: LogLine), the last 100 lines first, then following. When the lines cannot be read
 * (managers without Redis, the task gone), one `event: error` message (data: ActionError) says why and the stream
 * ends; the server asks the browser to wait 10 s before it reconnects (`retry:`).
 */
export interface TaskDetail {
  task: UiTask;
  /** The states the task went through, oldest first (from the event log; only the current one when unavailable). */
  history: { state: string; at: number; message: string }[];
  /** The last health probe's output and exit code (empty when none ran). */
  healthOutput: string;
}

export interface LogLine {
  at: number;
  stream: 'stdout' | 'stderr';
  text: string;
}

/*
 * Actions: POST with a JSON body; each is the control-API call the CLI makes for the same command. Every POST
 * must carry the header `X-Flotilla-UI: 1` and be same-origin (the server refuses others: no cross-site form can
 * act). Answer: ActionResult, status 200, or 4xx/5xx with `{ error }` saying what to do.
 *   POST /api/services/:id/scale     { replicas: number }          (flotilla service scale, --detach)
 *   POST /api/services/:id/rollback  {}                            (flotilla service rollback, --detach)
 *   POST /api/services/:id/force     {}                            (flotilla service update --force, --detach)
 *   POST /api/nodes/:id/availability { availability: 'active' | 'drain' | 'pause' }   (flotilla node update)
 */
export interface ActionResult {
  ok: true;
  message: string;
}
export interface ActionError {
  error: string;
}

/*
 * Access: `flotilla ui` prints http://127.0.0.1:PORT/?token=T. T is random (32 bytes), good once: GET /?token=T
 * sets a session cookie (HttpOnly, SameSite=Strict, Path=/) and redirects to /. Every other request needs the
 * cookie; without it the server answers 401 with a page saying to open the URL `flotilla ui` printed.
 */

/*
 * The page's DOM contract (browser tests find things by these, never by text or layout):
 *   [data-node-id=ID]            a node's column; attributes data-status (ready|down|…) and data-availability
 *   [data-node-id=ID] [data-task-id=TID]   a task's card inside its node's column; attributes data-state,
 *                                data-health, data-service-id
 *   [data-unassigned]            the column of tasks not on a node
 *   [data-service-id=ID]         a service's row in the services panel; attributes data-running, data-desired,
 *                                data-update-state
 *   button[data-action=scale|rollback|force|drain|activate]   actions, on the service row or node column
 *   dialog[data-confirm-dialog]  the confirmation; input[name=replicas] in it for scale;
 *                                button[data-confirm] and button[data-cancel]
 *   [data-task-detail]           the task detail panel; [data-log-lines] its log lines
 *   [data-events]                the event stream panel; [data-chart] the chart
 *   [data-connection]            attribute data-state: live | reconnecting (shown to people too)
 */
