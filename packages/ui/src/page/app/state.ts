/*
 * The page's picture of the cluster, and how stream messages change it. Pure: no DOM, so the batching and the
 * per-node grouping (what keeps 10,000 cards cheap to redraw) can be reasoned about on their own.
 */
import type { Change, StreamSnapshot, UiCluster, UiEvent, UiNode, UiSample, UiService, UiTask } from '../../model.js';
import { SAMPLES_KEPT } from '../../model.js';

/** Events kept in the panel: the snapshot sends at most 200, and the page keeps no more than that. */
export const EVENTS_KEPT = 200;

/** The key of the column of tasks on no node. */
export const UNASSIGNED = '';

export interface PageState {
  loaded: boolean;
  cluster: UiCluster;
  nodes: Map<string, UiNode>;
  services: Map<string, UiService>;
  tasks: Map<string, UiTask>;
  /**
   * Tasks per node ID (UNASSIGNED for none), in display order. An array keeps its identity while none of its
   * tasks changed, so a column whose tasks did not change is not redrawn.
   */
  byNode: Map<string, UiTask[]>;
  samples: UiSample[];
  events: UiEvent[];
  eventsAvailable: boolean;
}

export type StreamMessage =
  | { type: 'snapshot'; data: StreamSnapshot }
  | { type: 'node'; data: Change<UiNode> }
  | { type: 'service'; data: Change<UiService> }
  | { type: 'task'; data: Change<UiTask> }
  | { type: 'cluster'; data: UiCluster }
  | { type: 'sample'; data: UiSample }
  | { type: 'event'; data: UiEvent };

export const MESSAGE_TYPES: readonly StreamMessage['type'][] = [
  'snapshot',
  'node',
  'service',
  'task',
  'cluster',
  'sample',
  'event',
];

export function emptyState(): PageState {
  return {
    loaded: false,
    cluster: { id: '', managers: [] },
    nodes: new Map(),
    services: new Map(),
    tasks: new Map(),
    byNode: new Map(),
    samples: [],
    events: [],
    eventsAvailable: true,
  };
}

/** Display order of cards: by service, then slot, then the newest first (a slot's replacement above the old). */
export function compareTasks(a: UiTask, b: UiTask): number {
  if (a.serviceName !== b.serviceName) return a.serviceName < b.serviceName ? -1 : 1;
  if (a.slot !== b.slot) return a.slot - b.slot;
  if (a.createdAt !== b.createdAt) return b.createdAt - a.createdAt;
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

/** Display order of columns: by hostname, then ID (hostnames need not be unique). */
export function compareNodes(a: UiNode, b: UiNode): number {
  if (a.hostname !== b.hostname) return a.hostname < b.hostname ? -1 : 1;
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

function groupAll(tasks: Map<string, UiTask>): Map<string, UiTask[]> {
  const byNode = new Map<string, UiTask[]>();
  for (const task of tasks.values()) {
    const list = byNode.get(task.nodeId);
    if (list) list.push(task);
    else byNode.set(task.nodeId, [task]);
  }
  for (const list of byNode.values()) list.sort(compareTasks);
  return byNode;
}

/**
 * Applies a batch of messages (those of one animation frame) and returns the new state. The maps are copied
 * once per batch, not once per message; only the columns a task moved into or out of are regrouped.
 */
export function applyBatch(state: PageState, batch: readonly StreamMessage[]): PageState {
  if (batch.length === 0) return state;
  const next: PageState = {
    ...state,
    nodes: new Map(state.nodes),
    services: new Map(state.services),
    tasks: new Map(state.tasks),
    byNode: state.byNode,
  };
  let samplesChanged = false;
  let eventsChanged = false;
  let samples = state.samples;
  let events = state.events;
  const dirtyNodes = new Set<string>();
  let regroupAll = false;

  for (const message of batch) {
    switch (message.type) {
      case 'snapshot': {
        const s = message.data;
        next.loaded = true;
        next.cluster = s.cluster;
        next.nodes = new Map(s.nodes.map((n) => [n.id, n]));
        next.services = new Map(s.services.map((x) => [x.id, x]));
        next.tasks = new Map(s.tasks.map((t) => [t.id, t]));
        samples = s.samples.slice(-SAMPLES_KEPT);
        events = s.events.slice(-EVENTS_KEPT);
        samplesChanged = eventsChanged = true;
        next.eventsAvailable = s.eventsAvailable;
        regroupAll = true;
        dirtyNodes.clear();
        break;
      }
      case 'node':
        if (message.data.op === 'put') next.nodes.set(message.data.object.id, message.data.object);
        else next.nodes.delete(message.data.id);
        break;
      case 'service':
        if (message.data.op === 'put') next.services.set(message.data.object.id, message.data.object);
        else next.services.delete(message.data.id);
        break;
      case 'task': {
        const id = message.data.op === 'put' ? message.data.object.id : message.data.id;
        const before = next.tasks.get(id);
        if (before) dirtyNodes.add(before.nodeId);
        if (message.data.op === 'put') {
          next.tasks.set(id, message.data.object);
          dirtyNodes.add(message.data.object.nodeId);
        } else {
          next.tasks.delete(id);
        }
        break;
      }
      case 'cluster':
        next.cluster = message.data;
        break;
      case 'sample':
        if (!samplesChanged) samples = samples.slice();
        samplesChanged = true;
        samples.push(message.data);
        break;
      case 'event':
        if (!eventsChanged) events = events.slice();
        eventsChanged = true;
        events.push(message.data);
        break;
    }
  }

  if (samples.length > SAMPLES_KEPT) samples = samples.slice(-SAMPLES_KEPT);
  if (events.length > EVENTS_KEPT) events = events.slice(-EVENTS_KEPT);
  next.samples = samples;
  next.events = events;

  if (regroupAll) {
    next.byNode = groupAll(next.tasks);
    // A column whose tasks are the same objects in the same order keeps its old array, so after a fresh snapshot
    // (the server regained its watch) only what changed is redrawn, and focus and scroll stay where they were.
    for (const [nodeId, list] of next.byNode) {
      const old = state.byNode.get(nodeId);
      if (old && old.length === list.length && old.every((t, i) => t === list[i])) next.byNode.set(nodeId, old);
    }
  } else if (dirtyNodes.size > 0) {
    next.byNode = new Map(state.byNode);
    for (const nodeId of dirtyNodes) next.byNode.delete(nodeId);
    for (const task of next.tasks.values()) {
      if (!dirtyNodes.has(task.nodeId)) continue;
      const list = next.byNode.get(task.nodeId);
      if (list) list.push(task);
      else next.byNode.set(task.nodeId, [task]);
    }
    for (const nodeId of dirtyNodes) next.byNode.get(nodeId)?.sort(compareTasks);
  }
  return next;
}
