import { spawn } from 'node:child_process';
import type { Page } from 'playwright-core';
import { bin, root } from './flotilla-command.js';

/** `flotilla ui` running as a user starts it, and the one-time URL it printed. */
export interface RunningUi {
  url: string;
  /** Ctrl-C's signal, then waits for it to end; resolves with its exit code. */
  stop(): Promise<number | null>;
}

export function startUi(env: NodeJS.ProcessEnv): Promise<RunningUi> {
  const child = spawn(bin, ['ui', '--listen', '127.0.0.1:0'], { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  let printed = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGTERM');
      reject(new Error(`flotilla ui printed no URL within 20 s:\n${printed}`));
    }, 20_000);
    const read = (chunk: Buffer) => {
      printed += chunk.toString();
      const url = /http:\/\/127\.0\.0\.1:\d+\/\?token=[\w-]+/.exec(printed)?.[0];
      if (!url) return;
      clearTimeout(timer);
      resolve({
        url,
        stop: () => {
          child.kill('SIGINT');
          return exited;
        },
      });
    };
    child.stdout.on('data', read);
    child.stderr.on('data', read);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`flotilla ui ended (${code}) before printing its URL:\n${printed}`));
    });
  });
}

/** What the page shows, read through its DOM contract (packages/ui/src/model.ts). */
export interface Shown {
  nodes: { id: string; status: string }[];
  tasks: { id: string; nodeId: string; serviceId: string; state: string }[];
}

export async function shown(page: Page): Promise<Shown> {
  const nodes = await page
    .locator('[data-node-id]')
    .evaluateAll((all) =>
      all.map((n) => ({ id: n.getAttribute('data-node-id') ?? '', status: n.getAttribute('data-status') ?? '' })),
    );
  const tasks = await page.locator('[data-task-id]').evaluateAll((all) =>
    all.map((t) => ({
      id: t.getAttribute('data-task-id') ?? '',
      nodeId: t.closest('[data-node-id]')?.getAttribute('data-node-id') ?? '',
      serviceId: t.getAttribute('data-service-id') ?? '',
      state: t.getAttribute('data-state') ?? '',
    })),
  );
  return { nodes, tasks };
}
