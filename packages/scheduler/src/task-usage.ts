import type { Task } from '@flotilla/api';
import { portKey } from './host-port.js';

/** What a task takes from the node it runs on. */
export interface TaskUsage {
  readonly serviceId: string;
  /** Reserved CPU in nano CPUs and memory in bytes, as numbers: both stay far below 2^53 for any real machine. */
  readonly cpu: number;
  readonly memory: number;
  /** Host-mode published ports (see portKey); ports published as 0 are chosen by the node and never conflict. */
  readonly ports: readonly number[];
}

export function usageOf(task: Task): TaskUsage {
  const reservations = task.resources?.reservations;
  const ports: number[] = [];
  for (const port of task.hostPorts) {
    if (port.publishedPort <= 0) continue;
    const key = portKey(port.protocol, port.publishedPort);
    if (!ports.includes(key)) ports.push(key);
  }
  return {
    serviceId: task.serviceId,
    cpu: Number(reservations?.nanoCpus ?? 0n),
    memory: Number(reservations?.memoryBytes ?? 0n),
    ports,
  };
}
