import type { Node } from '@flotilla/api';
import type { TaskUsage } from './task-usage.js';

/**
 * One node as placement sees it: its description, and the sum of what the tasks counted on it take. A NodeState
 * can outlive its Node (removed from the cluster while tasks still count on it) so that accounting stays exact.
 */
export class NodeState {
  node: Node | undefined;
  cpuCapacity = 0;
  memoryCapacity = 0;
  cpuReserved = 0;
  memoryReserved = 0;
  /** Tasks counted on the node, of every service. */
  tasks = 0;
  /** Used host ports → how many tasks claim each (a count, so removing one of two claimants keeps it used). */
  readonly ports = new Map<number, number>();
  /** Seeded tie-break rank, unique among nodes (see assignRanks). */
  rank = 0;
  /** Scratch for the group being placed: its service's tasks on this node. */
  svc = 0;
  /** Binpack's fullness: reserved share of CPU plus reserved share of memory, kept current by add and remove. */
  pack = 0;

  constructor(readonly id: string) {}

  setNode(node: Node | undefined): void {
    this.node = node;
    this.cpuCapacity = Number(node?.description?.nanoCpus ?? 0n);
    this.memoryCapacity = Number(node?.description?.memoryBytes ?? 0n);
    this.pack = this.packScore();
  }

  add(usage: TaskUsage): void {
    this.tasks++;
    this.cpuReserved += usage.cpu;
    this.memoryReserved += usage.memory;
    for (const key of usage.ports) this.ports.set(key, (this.ports.get(key) ?? 0) + 1);
    if (usage.cpu > 0 || usage.memory > 0) this.pack = this.packScore();
  }

  remove(usage: TaskUsage): void {
    this.tasks--;
    this.cpuReserved -= usage.cpu;
    this.memoryReserved -= usage.memory;
    for (const key of usage.ports) {
      const count = (this.ports.get(key) ?? 0) - 1;
      if (count > 0) this.ports.set(key, count);
      else this.ports.delete(key);
    }
    if (usage.cpu > 0 || usage.memory > 0) this.pack = this.packScore();
  }

  /** A resource the node does not report adds nothing. */
  private packScore(): number {
    const cpu = this.cpuCapacity > 0 ? this.cpuReserved / this.cpuCapacity : 0;
    const memory = this.memoryCapacity > 0 ? this.memoryReserved / this.memoryCapacity : 0;
    return cpu + memory;
  }
}
