import {
  Code,
  type ControlServiceClient,
  FlotillaError,
  type Node,
  type ServiceChange,
  ServiceChange_Action,
  ServiceMode,
  type Task,
} from '@flotilla/api';
import { call } from './control-client.js';
import { type DeployReporter, deployVerdict, listrReporter, plainReporter } from './deploy-progress.js';
import {
  deployOutcomes,
  type Observation,
  type Outcome,
  type WatchedService,
  type WatchResult,
} from './deploy-wait.js';

export interface WatchOptions {
  watched: readonly WatchedService[];
  /** One look at the cluster (the RPC observer, or a fake in tests). */
  observe: () => Promise<Observation>;
  timeoutMs: number;
  /** Between polls: modest, since every poll lists the stack's services and tasks. */
  intervalMs?: number;
  /** Called when a service's outcome or progress changes. */
  onChange: (name: string, outcome: Outcome) => void;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
}

/**
 * Polls until every watched service has an outcome (converged or failed) or the time is up. A service keeps the
 * first outcome it reaches: the deploy is judged on what it did, not on what happens to a service afterwards.
 * A failed poll is retried until the timeout, since a manager may be failing over.
 */
export async function watchDeploy(options: WatchOptions): Promise<WatchResult> {
  const now = options.now ?? Date.now;
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const interval = options.intervalMs ?? 500;
  const deadline = now() + options.timeoutMs;
  const outcomes = new Map<string, Outcome>();
  let lastError: string | undefined;
  for (;;) {
    try {
      const seen = await options.observe();
      lastError = undefined;
      for (const [name, next] of deployOutcomes(options.watched, seen)) {
        const before = outcomes.get(name);
        if (before && before.kind !== 'waiting') continue;
        if (!before || before.kind !== next.kind || before.progress !== next.progress) {
          outcomes.set(name, next);
          options.onChange(name, next);
        }
      }
    } catch (err) {
      lastError = err instanceof Error ? err.message : String(err);
    }
    const done = options.watched.every((w) => {
      const o = outcomes.get(w.name);
      return o !== undefined && o.kind !== 'waiting';
    });
    if (done) return { outcomes, timedOut: false };
    const left = deadline - now();
    if (left <= 0) return { outcomes, timedOut: true, ...(lastError ? { lastError } : {}) };
    await sleep(Math.min(interval, left));
  }
}

/**
 * The observer `stack deploy --wait` uses: the stack's services and tasks through the control API (ListServices,
 * ListTasks), and the nodes only when a global service needs them.
 */
export function rpcObserver(client: ControlServiceClient, stack: string): () => Promise<Observation> {
  return async () => {
    const listed = await call(client, client.listServices, { stack });
    const services = listed.services.flatMap((s) => (s.service ? [s.service] : []));
    // ListTasks refuses a stack with no services (all removed by --prune): there are no tasks to list then.
    let tasks: Task[] = [];
    if (services.length > 0) {
      tasks = (await call(client, client.listTasks, { service: '', stack, node: '' })).tasks;
    }
    let nodes: Node[] = [];
    if (services.some((s) => s.spec?.mode === ServiceMode.SERVICE_MODE_GLOBAL)) {
      nodes = (await call(client, client.listNodes, {})).nodes;
    }
    return { services, tasks, nodes };
  };
}

const WATCHED_ACTIONS: Record<number, WatchedService['action']> = {
  [ServiceChange_Action.ACTION_CREATED]: 'created',
  [ServiceChange_Action.ACTION_UPDATED]: 'updated',
  [ServiceChange_Action.ACTION_UNCHANGED]: 'unchanged',
  [ServiceChange_Action.ACTION_REMOVED]: 'removed',
};

/** Spec versions before the deploy, by service ID: they tell a new spec version (an update follows) from a scale. */
export async function versionsBefore(c: ControlServiceClient, stack: string): Promise<Map<string, bigint>> {
  const { services } = await call(c, c.listServices, { stack });
  return new Map(services.flatMap(({ service: s }) => (s ? [[s.id, s.specVersion] as const] : [])));
}

export function watchedServices(changes: ServiceChange[], before: Map<string, bigint>): WatchedService[] {
  return changes.map((change) => {
    const versionBefore = before.get(change.id);
    return {
      name: change.name,
      id: change.id,
      action: WATCHED_ACTIONS[change.action] ?? 'updated',
      ...(versionBefore === undefined ? {} : { versionBefore }),
    };
  });
}

/** `stack deploy --wait`: follows every service to an outcome and fails (exit 1) unless all of them converged. */
export async function waitForDeploy(
  c: ControlServiceClient,
  stack: string,
  watched: WatchedService[],
  options: { timeoutMs: number; timeout: string; tty: boolean; write: (text: string) => void },
): Promise<void> {
  const names = watched.map((w) => w.name);
  const reporter: DeployReporter = options.tty ? await listrReporter(names) : plainReporter(options.write);
  const result = await watchDeploy({
    watched,
    observe: rpcObserver(c, stack),
    timeoutMs: options.timeoutMs,
    onChange: (name, outcome) => reporter.change(name, outcome),
  });
  await reporter.finish(result, options.timeout);
  const verdict = deployVerdict(stack, names, result, options.timeout);
  if (!verdict.ok)
    throw new FlotillaError(result.timedOut ? Code.DeadlineExceeded : Code.FailedPrecondition, verdict.error);
  options.write(verdict.summary);
}
