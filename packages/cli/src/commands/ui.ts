import { spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { isIPv4, isIPv6 } from 'node:net';
import path from 'node:path';
import { Command } from '@commander-js/extra-typings';
import type { ControlServiceClient } from '@flotilla/api';
import { startUiServer } from '@flotilla/ui';
import { controlClient } from '../control-client.js';
import { usageError } from '../exit-codes.js';
import type { Io } from '../io.js';

/** Whether the address is only reachable from this machine. */
export function isLoopback(host: string): boolean {
  const bare = host.replace(/^\[(.*)\]$/, '$1');
  if (bare === 'localhost') return true;
  if (isIPv4(bare)) return bare.startsWith('127.');
  return isIPv6(bare) && bare === '::1';
}

/** xdg-open's path when it is on PATH. */
function xdgOpen(env: Record<string, string | undefined>): string | undefined {
  for (const dir of (env.PATH ?? '').split(path.delimiter)) {
    if (!dir) continue;
    const file = path.join(dir, 'xdg-open');
    try {
      accessSync(file, constants.X_OK);
      return file;
    } catch {
      // Not in this directory.
    }
  }
  return undefined;
}

/** Resolves on Ctrl-C or SIGTERM (or when `until` is aborted). */
function stopped(until?: AbortSignal): Promise<string> {
  return new Promise((resolve) => {
    const done = (why: string) => {
      process.off('SIGINT', onInt);
      process.off('SIGTERM', onTerm);
      until?.removeEventListener('abort', onAbort);
      resolve(why);
    };
    const onInt = () => done('SIGINT');
    const onTerm = () => done('SIGTERM');
    const onAbort = () => done('stopped');
    process.on('SIGINT', onInt);
    process.on('SIGTERM', onTerm);
    until?.addEventListener('abort', onAbort, { once: true });
    if (until?.aborted) onAbort();
  });
}

/**
 * `flotilla ui`: a local web page with a live picture of the cluster, served with the operator's credentials until
 * Ctrl-C. `until` ends it as Ctrl-C would (tests).
 */
export function uiCommand(io: Io, client: () => ControlServiceClient = () => controlClient(), until?: AbortSignal) {
  return new Command('ui')
    .description('serve a live picture of the cluster to a browser (nodes, services, tasks, events), until Ctrl-C')
    .option('--listen <HOST:PORT>', 'where to serve the page (port 0: any free one)', '127.0.0.1:8088')
    .option('--open', 'open the page in the default browser (xdg-open)')
    .action(async (opts) => {
      if (
        !/^(\[[0-9a-fA-F:.]+\]|[^:[\]]+):\d{1,5}$/.test(opts.listen) ||
        Number(opts.listen.split(':').at(-1)) > 65_535
      ) {
        throw usageError(`--listen takes HOST:PORT (127.0.0.1:8088; port 0: any free one), got "${opts.listen}"`);
      }
      const c = client();
      try {
        const server = await startUiServer({ client: c, listen: opts.listen });
        const host = server.address.slice(0, server.address.lastIndexOf(':'));
        if (!isLoopback(host)) {
          io.err(
            `warning: ${server.address} is reachable from other machines: anyone who gets the URL below can act as ` +
              'the operator (scale, roll back, drain). Prefer the default 127.0.0.1 and an SSH tunnel.\n',
          );
        }
        io.out(`Flotilla UI at ${server.url}\n(the URL works once, in one browser; Ctrl-C stops the server)\n`);
        if (opts.open) {
          const opener = xdgOpen(io.env);
          if (opener)
            spawn(opener, [server.url], { detached: true, stdio: 'ignore' })
              .on('error', () => undefined)
              .unref();
          else io.err('xdg-open is not installed here: open the URL above in a browser by hand\n');
        }
        await stopped(until);
        await server.close();
        io.out('Flotilla UI stopped\n');
      } finally {
        c.close();
      }
    });
}
