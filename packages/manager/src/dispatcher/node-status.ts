import { NodeDescription, type NodeStatus_State } from '@flotilla/api';
import type { Store } from '@flotilla/store';
import { type NodeRuntime, runtimeKnown } from './node-runtime.js';

/** A node status to write: the state, why, and what the dispatcher knows of the node then. */
export interface NodeStatusWrite {
  state: NodeStatus_State;
  message: string;
  lastHeartbeatMs: number;
  /** The node's address as its session shows it; kept as stored when absent (or empty). */
  address?: string;
  /** HOST:PORT of the node's PeerService (see probeAddress); kept as stored when absent (or empty). */
  probeAddress?: string;
  /** How the node runs tasks, as its agent said in its session; the description is kept as stored when absent. */
  runtime?: NodeRuntime;
}

/** Writes nodes' statuses with compare-and-swap, and remembers what it last wrote (or found) for each. */
export class NodeStatusWriter {
  private readonly written = new Map<string, NodeStatus_State>();

  constructor(
    private readonly store: Store,
    private readonly now: () => number,
  ) {}

  /** The state last written (or found already there) for a node. */
  last(nodeId: string): NodeStatus_State | undefined {
    return this.written.get(nodeId);
  }

  /** A node removed from the cluster: its last state is not kept. */
  forget(nodeId: string): void {
    this.written.delete(nodeId);
  }

  /**
   * Keeps only the nodes in `nodeIds` (those in the store): a write under way when its node was removed records
   * it after `forget`. Dropping a node still there costs one status write at most, on its next heartbeat.
   */
  retain(nodeIds: ReadonlySet<string>): void {
    for (const nodeId of this.written.keys()) if (!nodeIds.has(nodeId)) this.written.delete(nodeId);
  }

  get size(): number {
    return this.written.size;
  }

  /** Writes a node's status, retrying on a concurrent change. True once it holds. */
  async write(nodeId: string, next: NodeStatusWrite): Promise<boolean> {
    const { state, message, address, probeAddress, runtime } = next;
    try {
      const written = await this.store.modify('nodes', nodeId, (node) =>
        node.status?.state === state &&
        (!address || node.status.address === address) &&
        (!probeAddress || node.status.probeAddress === probeAddress) &&
        (!runtime || runtimeKnown(node.description, runtime))
          ? undefined
          : {
              ...node,
              // In the same write as the ready status: the scheduler never sees the node ready with an executor
              // it no longer has.
              ...(runtime
                ? { description: { ...(node.description ?? NodeDescription.fromPartial({})), ...runtime } }
                : {}),
              status: {
                state,
                message,
                address: address || (node.status?.address ?? ''),
                probeAddress: probeAddress || (node.status?.probeAddress ?? ''),
                // A manager that has not heard the node yet (a new leader) keeps the last heartbeat stored: it
                // tells a node that once held a session from one that never did.
                lastHeartbeatMs: BigInt(next.lastHeartbeatMs) || (node.status?.lastHeartbeatMs ?? 0n),
              },
              updatedAtMs: BigInt(this.now()),
            },
      );
      if (!written) return false;
      this.written.set(nodeId, state);
      return true;
    } catch {
      // etcd away, the fence lost, or the node kept changing: the status stays as it was, and is written again
      // when it matters (the next heartbeat of a node not yet ready, the next liveness check of one still silent).
      return false;
    }
  }
}
