import { Argument, Command } from '@commander-js/extra-typings';
import { type ControlServiceClient, FileObjectKind } from '@flotilla/api';
import { call, controlClient } from '../control-client.js';
import type { Io } from '../io.js';
import { commandTree, LIVE_KINDS, type LiveKind } from '../output/command-tree.js';
import { completionScript, SHELLS } from '../output/completion-scripts.js';

/** `flotilla completion bash|zsh|fish`: the script, made from the program it is part of. */
export function completionCommand(io: Io) {
  return new Command('completion')
    .description('print a shell completion script for commands, flags and live names (see the README to install)')
    .addArgument(new Argument('<SHELL>', 'bash, zsh or fish').choices(SHELLS))
    .action((shell, _opts, command) => {
      // The root program: every command added to it, now or later, is completed.
      let root: Command = command as unknown as Command;
      while (root.parent) root = root.parent as Command;
      io.out(completionScript(shell, commandTree(root), root.name()));
    });
}

/** How long a completion waits for the cluster: a prompt that hangs is worse than one that offers nothing. */
const COMPLETE_TIMEOUT_MS = 2_000;

async function liveNames(c: ControlServiceClient, what: LiveKind): Promise<string[]> {
  switch (what) {
    case 'services':
      return (await call(c, c.listServices, { stack: '' })).services.map(
        (s) => s.service?.spec?.annotations?.name ?? '',
      );
    case 'nodes': {
      const { nodes, managers } = await call(c, c.listNodes, {});
      const ids = new Set(nodes.map((n) => n.id));
      return [
        ...nodes.map((n) => n.description?.hostname ?? ''),
        ...managers.filter((m) => !ids.has(m.manager?.nodeId ?? '')).map((m) => m.manager?.hostname ?? ''),
      ];
    }
    case 'stacks':
      return (await call(c, c.listStacks, {})).stacks.map((s) => s.name);
    case 'networks':
      return (await call(c, c.listNetworks, {})).networks.map((n) => n.network?.spec?.annotations?.name ?? '');
    case 'secrets':
    case 'configs': {
      const kind = what === 'secrets' ? FileObjectKind.FILE_OBJECT_KIND_SECRET : FileObjectKind.FILE_OBJECT_KIND_CONFIG;
      // Names only (each version of one is the same name): never a secret's content, which listing does not give.
      return (await call(c, c.listFileObjects, { kind })).objects.map((o) => o.name);
    }
  }
}

/**
 * `flotilla __complete services|nodes|stacks|networks|secrets|configs` (hidden): the names the completion scripts offer, one a line. It
 * prints nothing and succeeds when there is no cluster to ask, or it does not answer in time.
 */
export function completeCommand(io: Io, client: () => ControlServiceClient = () => controlClient()) {
  return new Command('__complete')
    .description('list live names for the shell completion scripts')
    .addArgument(new Argument('<KIND>', LIVE_KINDS.join(', ')).choices(LIVE_KINDS))
    .action(async (kind) => {
      let c: ControlServiceClient;
      try {
        c = client();
      } catch {
        return;
      }
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<string[]>((resolve) => {
        timer = setTimeout(() => resolve([]), COMPLETE_TIMEOUT_MS);
      });
      const names = await Promise.race([liveNames(c, kind).catch(() => []), late]);
      clearTimeout(timer);
      c.close();
      const unique = [...new Set(names.filter((n) => n !== ''))].sort();
      io.out(unique.map((n) => `${n}\n`).join(''));
    });
}
