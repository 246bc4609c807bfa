import type { LogsConfig } from '@flotilla/api';
import type { Informer } from '@flotilla/store';
import type { DataKey } from '../secrets/data-key.js';
import type { ViewInformers } from './network-views.js';
import type { SessionLimits } from './session-budget.js';
import type { BatcherStats } from './status-batcher.js';
import type { ManagerVoter } from './voters.js';

export interface DispatcherOptions {
  heartbeatPeriodMs: number;
  /** Heartbeat periods a node may miss before it is marked down. */
  gracePeriods: number;
  /** Told to agents: how long without hearing from a manager before they stop their tasks (0: never). */
  selfFenceTimeoutMs?: number;
  /**
   * After this dispatcher starts (a new leader), how long nodes it has not heard from yet have to find it before
   * they are marked down: at least the grace, plus the agents' longest reconnect backoff.
   */
  takeoverGraceMs?: number;
  /** Addresses of every manager, told to agents so they can reconnect to any. */
  managers: () => string[];
  /**
   * The live managers (this one included) as voters of the quorum rule: told to agents with the nodes, and counted
   * before silent nodes are marked down. Absent: no managers are told, and silent nodes are always down.
   */
  managerVoters?: () => ManagerVoter[];
  /**
   * Where agents ship container logs, password included: it goes only into sessions, which are mutual TLS with
   * nodes the cluster admitted, and is never logged.
   */
  logs?: LogsConfig;
  /** Where each node ships its logs, with a Redis user of its own (instead of `logs`, which promotions keep). */
  nodeLogs?: (nodeId: string) => LogsConfig;
  now?: () => number;
  /** Counters of status batches, shared across leadership terms. */
  stats?: BatcherStats;
  /**
   * Informers shared with the leader's other loops (one watch and one decode per change, not one per loop). The
   * dispatcher starts them if need be; whoever made them stops them.
   */
  informers?: Partial<ViewInformers & { files: Informer<'files'> }>;
  /**
   * The cluster's data key: the contents of the secrets and configs a node's tasks use are opened with it and sent
   * in its session. Without it no content can be sent, and tasks that use any are held back (see SessionFiles).
   */
  dataKey?: DataKey;
  /** Where problems that must not end a session are told (a network view that could not be made). */
  logger?: { warn(obj: object, msg: string): void };
  /** The cluster's certificate life now, told to agents in their sessions (they renew sooner when it shrinks). */
  certExpiryMs?: () => number;
  /** Hooks for metrics. */
  onHeartbeat?: () => void;
  onSessionOpened?: () => void;
  /** A session the dispatcher closed: its node flooded it, or its agent stayed behind. */
  onCutOff?: (why: 'flood' | 'behind') => void;
  /** What a node may send before it is cut off (see SessionLimits); the defaults suit any well-behaved agent. */
  sessionLimits?: Partial<SessionLimits>;
  /** How long a node cut off for flooding is refused a new session at first (default: one heartbeat period). */
  cutOffBackoffMs?: number;
  /**
   * How long a session may stay behind (its agent not reading) before it is closed (default: 30 periods, at least
   * a minute). What it holds meanwhile is bounded anyway; an agent only slow under load is not cut off for it.
   */
  maxBehindMs?: number;
}

/** How many entries the dispatcher holds, per structure: each is bounded by the nodes or their tasks. */
export interface DispatcherStats {
  sessions: number;
  /** Nodes with a last heartbeat or a restart hold kept (every node of the store at most). */
  heartbeats: number;
  nodeStatuses: number;
  cutOffNodes: number;
  nodesWithTasks: number;
  /** Status reports waiting for the next batch (one per task at most). */
  pendingStatuses: number;
  /** Messages held for agents that do not read (one per kind and session at most). */
  heldMessages: number;
}
