import { Code, type ControlServiceServer, FlotillaError, type Task } from '@flotilla/api';
import type { Store } from '@flotilla/store';
import type { Handle } from './handler.js';
import { resolveService } from './services.js';

/** Tasks in the control API: what `service ps` and `stack ps` list. */
export function taskControl(store: Store, handle: Handle): Pick<ControlServiceServer, 'listTasks'> {
  return {
    listTasks: handle(async (request) => {
      const [services, tasks, nodes] = await Promise.all([
        store.list('services'),
        store.list('tasks'),
        store.list('nodes'),
      ]);
      const wanted = request.service ? new Set([(await resolveService(store, request.service)).id]) : undefined;
      const inStack = request.stack
        ? new Set(services.items.filter((s) => s.value.spec?.stack === request.stack).map((s) => s.id))
        : undefined;
      if (inStack?.size === 0) {
        throw new FlotillaError(Code.NotFound, `nothing found in stack ${request.stack}: see flotilla stack ls`);
      }
      const nodeNames = Object.fromEntries(nodes.items.map((n) => [n.id, n.value.description?.hostname ?? n.id]));
      const nodeId = request.node
        ? nodes.items.find((n) => n.id === request.node || n.value.description?.hostname === request.node)?.id
        : undefined;
      if (request.node && !nodeId) throw new FlotillaError(Code.NotFound, `no node ${request.node}: see node ls`);
      const selected = tasks.items
        .map((t) => t.value)
        .filter((t) => (!wanted || wanted.has(t.serviceId)) && (!inStack || inStack.has(t.serviceId)))
        .filter((t) => !nodeId || t.nodeId === nodeId)
        .sort(taskOrder);
      return { tasks: selected, nodeNames };
    }),
  };
}

/** Service, then slot (or node), newest task first, as `docker service ps` lists them. */
function taskOrder(a: Task, b: Task): number {
  return (
    a.serviceName.localeCompare(b.serviceName) ||
    (a.slot === b.slot ? 0 : a.slot < b.slot ? -1 : 1) ||
    a.nodeId.localeCompare(b.nodeId) * (a.slot === 0n ? 1 : 0) ||
    (a.createdAtMs === b.createdAtMs ? 0 : a.createdAtMs > b.createdAtMs ? -1 : 1)
  );
}
