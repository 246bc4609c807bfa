import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import type { NetnsCluster } from '@flotilla/testing';

/**
 * What a closed namespace cluster left behind: namespaces of its hosts or of the given tasks that still exist,
 * and whether its underlay bridge is still there.
 */
export function clusterLeftovers(
  cluster: NetnsCluster,
  taskIds: Iterable<string>,
): { netns: string[]; bridge: boolean } {
  const ours = new Set([...cluster.hosts.hosts.map((h) => h.netns), ...[...taskIds].map((id) => `flt-${id}`)]);
  const netns = (existsSync('/run/netns') ? readdirSync('/run/netns') : []).filter((n) => ours.has(n));
  const links = execFileSync('ip', ['-o', 'link', 'show']).toString();
  return { netns, bridge: links.includes(cluster.hosts.bridge) };
}
