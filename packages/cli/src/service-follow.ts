import {
  Code,
  type ControlServiceClient,
  FlotillaError,
  type Node,
  type Service,
  ServiceMode,
  type Task,
} from '@flotilla/api';
import { parseDuration } from '@flotilla/stack';
import { call } from './control-client.js';
import { type DeployReporter, listrReporter, plainReporter } from './deploy-progress.js';
import type { Observation, WatchedService } from './deploy-wait.js';
import { watchDeploy } from './deploy-watch.js';
import { usageError } from './exit-codes.js';
import { slotProgress } from './slot-progress.js';

/** How `service create|update|scale|rollback` follow what they started, unless --detach. */
export interface FollowOptions {
  timeout: string;
  /** Redraw in place (a terminal); otherwise one plain line per change. */
  tty: boolean;
  write: (text: string) => void;
}

/** `--timeout` as milliseconds; a usage error names the flag. */
export function timeoutMs(text: string): number {
  let ns: bigint;
  try {
    ns = parseDuration(text);
  } catch {
    throw usageError(`--timeout: "${text}" is not a duration such as 5m or 90s`);
  }
  if (ns <= 0n) throw usageError('--timeout must be longer than 0s');
  return Number(ns / 1_000_000n);
}

/** What is followed: the service as the write left it, and its spec version before (absent for a new one). */
export interface Followed {
  service: Service;
  versionBefore?: bigint;
  rollback?: boolean;
}

/**
 * Follows services to an outcome with the rules and the display of `stack deploy --wait`: returns once each has
 * converged, and throws (exit 1, as `stack deploy --wait` ends) when one paused, rolled back against the change,
 * kept failing, or the time ran out.
 */
export async function followServices(
  c: ControlServiceClient,
  followed: readonly Followed[],
  options: FollowOptions,
): Promise<void> {
  const watched: WatchedService[] = followed.map((f) => ({
    name: f.service.spec?.annotations?.name ?? f.service.id,
    id: f.service.id,
    action: f.versionBefore === undefined ? 'created' : 'updated',
    ...(f.versionBefore === undefined ? {} : { versionBefore: f.versionBefore }),
    ...(f.rollback ? { rollback: true } : {}),
  }));
  const names = watched.map((w) => w.name);
  const reporter: DeployReporter = options.tty ? await listrReporter(names) : plainReporter(options.write);
  const observe = serviceObserver(
    c,
    watched.map((w) => w.id),
  );
  const result = await watchDeploy({
    watched,
    // Each look at the cluster also redraws the slots of the services followed.
    observe: async () => {
      const seen = await observe();
      for (const s of seen.services) {
        reporter.detail?.(s.spec?.annotations?.name ?? s.id, slotProgress(s, seen.tasks));
      }
      return seen;
    },
    timeoutMs: timeoutMs(options.timeout),
    onChange: (name, outcome) => reporter.change(name, outcome),
  });
  await reporter.finish(result, options.timeout);
  const problems: string[] = [];
  for (const name of names) {
    const o = result.outcomes.get(name);
    if (o?.kind === 'failed') problems.push(`${name}: ${o.reason}`);
    else if (o?.kind !== 'converged') {
      problems.push(
        `${name}: timed out after ${options.timeout}: ${o?.progress ?? 'not seen yet'}${result.lastError ? ` (last error: ${result.lastError})` : ''}`,
      );
    }
  }
  if (problems.length > 0) {
    throw new FlotillaError(
      result.timedOut ? Code.DeadlineExceeded : Code.FailedPrecondition,
      [
        'did not converge:',
        ...problems.map((p) => `  ${p}`),
        `see the tasks and their errors: flotilla service ps ${names[0]}`,
      ].join('\n'),
    );
  }
}

/** One look at the followed services, their tasks, and (for a global one) the nodes. */
function serviceObserver(c: ControlServiceClient, ids: readonly string[]): () => Promise<Observation> {
  return async () => {
    const services: Service[] = [];
    const tasks: Task[] = [];
    for (const id of ids) {
      try {
        const { service } = await call(c, c.getService, { service: id });
        if (service) services.push(service);
      } catch (err) {
        // A removed service is an outcome (deployOutcomes says so), not a failed poll.
        if (FlotillaError.from(err).code !== Code.NotFound) throw err;
        continue;
      }
      tasks.push(...(await call(c, c.listTasks, { service: id, stack: '', node: '' })).tasks);
    }
    let nodes: Node[] = [];
    if (services.some((s) => s.spec?.mode === ServiceMode.SERVICE_MODE_GLOBAL)) {
      nodes = (await call(c, c.listNodes, {})).nodes;
    }
    return { services, tasks, nodes };
  };
}
