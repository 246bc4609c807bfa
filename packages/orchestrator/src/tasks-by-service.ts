import type { Task } from '@flotilla/api';
import type { Change } from '@flotilla/store';

/**
 * The tasks of an informer's cache grouped by service, kept in step with its change sets: a round reads the
 * tasks of the services it decides on instead of copying and scanning every task in the cluster.
 */
export class TasksByService {
  private readonly services = new Map<string, Map<string, Task>>();

  /** Starts over from a full list (the informer's cache once started). */
  reset(tasks: Iterable<Task>): void {
    this.services.clear();
    for (const task of tasks) this.add(task);
  }

  apply(change: Change<Task>): void {
    if (change.previous && (change.type === 'delete' || change.previous.serviceId !== change.value.serviceId)) {
      this.remove(change.previous.serviceId, change.id);
    }
    if (change.type === 'put') this.add(change.value);
  }

  tasks(serviceId: string): Task[] {
    const tasks = this.services.get(serviceId);
    return tasks ? [...tasks.values()] : [];
  }

  /** Services that have tasks (including removed services whose tasks remain). */
  serviceIds(): string[] {
    return [...this.services.keys()];
  }

  private add(task: Task): void {
    const tasks = this.services.get(task.serviceId);
    if (tasks) tasks.set(task.id, task);
    else this.services.set(task.serviceId, new Map([[task.id, task]]));
  }

  private remove(serviceId: string, taskId: string): void {
    const tasks = this.services.get(serviceId);
    if (!tasks) return;
    tasks.delete(taskId);
    if (tasks.size === 0) this.services.delete(serviceId);
  }
}
