import { existsSync, readdirSync } from 'node:fs';
import { ip } from './command.js';
import type { HostPlan } from './namespace-host.js';

const NETNS_DIR = '/run/netns';

/**
 * The task namespaces (`flt-<task ID>` under /run/netns) the agents of these hosts made: those whose veths are
 * in the hosts' namespaces (the host end of a task's veth is `fv<first 10 characters of the task ID><index>`).
 * Other clusters on the machine have theirs too, so a namespace is only theirs by its link. Hosts already gone
 * have none.
 */
export async function taskNamespacesOf(hosts: readonly HostPlan[]): Promise<string[]> {
  const tasks = new Set<string>();
  for (const host of hosts) {
    // A host removed already holds no links: nothing of it to find.
    const out = await ip(['-n', host.netns, '-o', 'link', 'show']).catch(() => '');
    for (const m of out.matchAll(/^\d+:\s+fv(\w{10})\d+[@:]/gm)) tasks.add(m[1] as string);
  }
  const all = existsSync(NETNS_DIR) ? readdirSync(NETNS_DIR) : [];
  return all.filter((n) => n.startsWith('flt-') && tasks.has(n.slice(4, 14)));
}
