import type { Outcome, WatchResult } from './deploy-wait.js';

/** Shows how each service of a deploy is getting on while `stack deploy --wait` polls. */
export interface DeployReporter {
  change(name: string, outcome: Outcome): void;
  /**
   * Where each of a service's task slots stands (slot label → state), shown under it while it is followed; a
   * reporter that only says how services get on has none.
   */
  detail?(name: string, slots: ReadonlyMap<string, string>): void;
  /** The wait is over: services still waiting timed out. */
  finish(result: WatchResult, timeout: string): Promise<void>;
}

/** One line each time a service's progress changes: for logs and CI, where nothing is redrawn. */
export function plainReporter(write: (text: string) => void): DeployReporter {
  const shown = new Map<string, string>();
  return {
    change(name, outcome) {
      if (outcome.kind === 'waiting') write(`${name}: ${outcome.progress}\n`);
      else if (outcome.kind === 'converged') write(`${name}: converged, ${outcome.progress}\n`);
      else write(`${name}: failed: ${outcome.reason}\n`);
    },
    // Only the slots whose line changed: a log keeps each step once.
    detail(name, slots) {
      for (const [slot, text] of slots) {
        const key = `${name} ${slot}`;
        if (shown.get(key) === text) continue;
        shown.set(key, text);
        write(`  ${name} ${slot}: ${text}\n`);
      }
    },
    async finish() {},
  };
}

interface Row {
  title: string;
  /** The slot lines drawn under the title while the service is followed. */
  slots?: string;
  /** The listr task, once listr has started it: its title is what the terminal shows. */
  task?: { title: string | undefined };
  settle?: (outcome: Outcome | Error) => void;
  final?: Outcome | Error;
}

/** A listr2 task per service, redrawn in place on a terminal: `web_api: 2/3 running` → `✔ web_api converged`. */
export async function listrReporter(names: readonly string[]): Promise<DeployReporter> {
  // Loaded only on a terminal: every other command (and every piped deploy) does without it.
  const { Listr } = await import('listr2');
  const rows = new Map<string, Row>(names.map((name) => [name, { title: `${name}: waiting` }]));
  const listr = new Listr(
    names.map((name) => ({
      title: `${name}: waiting`,
      task: async (_ctx, task) => {
        const row = rows.get(name) as Row;
        row.task = task;
        task.title = row.title;
        const final = await new Promise<Outcome | Error>((resolve) => {
          if (row.final) resolve(row.final);
          else row.settle = resolve;
        });
        if (final instanceof Error) throw final;
        if (final.kind === 'failed') throw new Error(final.reason);
      },
    })),
    { concurrent: true, exitOnError: false, renderer: 'default', rendererOptions: { collapseErrors: false } },
  );
  // Failures are reported by the command; listr only draws them.
  const drawn = listr.run().catch(() => undefined);
  const settle = (name: string, final: Outcome | Error) => {
    const row = rows.get(name);
    if (!row || row.final) return;
    row.final = final;
    row.settle?.(final);
  };
  const retitle = (name: string, title: string) => {
    const row = rows.get(name);
    if (!row) return;
    row.title = title;
    // Slot lines go under a service still on its way; a settled one is one line.
    const shown = row.slots && !row.final ? `${title}\n${row.slots}` : title;
    if (row.task) row.task.title = shown;
  };
  return {
    detail(name, slots) {
      const row = rows.get(name);
      if (!row) return;
      row.slots = [...slots].map(([slot, text]) => `  ${slot}: ${text}`).join('\n');
      retitle(name, row.title);
    },
    change(name, outcome) {
      if (outcome.kind === 'waiting') retitle(name, `${name}: ${outcome.progress}`);
      else if (outcome.kind === 'converged') {
        retitle(name, outcome.progress === 'removed' ? `${name} removed` : `${name} converged`);
        settle(name, outcome);
      } else {
        retitle(name, `${name} failed`);
        settle(name, outcome);
      }
    },
    async finish(result, timeout) {
      for (const name of names) {
        const outcome = result.outcomes.get(name);
        if (rows.get(name)?.final) continue;
        retitle(name, `${name} timed out`);
        settle(name, new Error(`timed out after ${timeout}: ${outcome?.progress ?? 'not seen yet'}`));
      }
      await drawn;
    },
  };
}

/** How the wait ended: the summary line for stdout, or what failed (each service with its reason). */
export function deployVerdict(
  stack: string,
  names: readonly string[],
  result: WatchResult,
  timeout: string,
): { ok: true; summary: string } | { ok: false; error: string } {
  const failed: string[] = [];
  const late: string[] = [];
  let converged = 0;
  for (const name of names) {
    const outcome = result.outcomes.get(name);
    if (outcome?.kind === 'failed') failed.push(`${name}: ${outcome.reason}`);
    else if (outcome?.kind === 'converged') converged++;
    else late.push(`${name} ${outcome?.progress ?? 'not seen yet'}`);
  }
  if (result.timedOut) {
    const why = late.join(', ');
    late.length = 0;
    if (why)
      late.push(`timed out after ${timeout}: ${why}${result.lastError ? ` (last error: ${result.lastError})` : ''}`);
  }
  if (failed.length === 0 && late.length === 0) {
    return { ok: true, summary: `stack ${stack}: ${converged} service${converged === 1 ? '' : 's'} converged\n` };
  }
  const lines = [...failed, ...late].map((l) => `  ${l}`);
  return {
    ok: false,
    error: [
      `stack ${stack} did not converge:`,
      ...lines,
      `see the tasks and their errors: flotilla stack ps ${stack}`,
    ].join('\n'),
  };
}
