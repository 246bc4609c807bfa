import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import path from 'node:path';
import type { Task } from '@flotilla/api';
import type { TaskAttachment } from '@flotilla/overlay';
import type { EtcFiles } from './container-mounts.js';

/**
 * The /etc files a container gets: its name and addresses, and its resolver: the node's DNS server on its first
 * network (cluster names, others forwarded), or the node's own resolvers without a network.
 */
export function writeEtcFiles(dir: string, task: Task, attachment?: TaskAttachment): EtcFiles {
  const etc = path.join(dir, 'etc');
  mkdirSync(etc, { recursive: true });
  const name = task.spec?.hostname || (task.spec?.hostNetwork ? hostname() : task.id.slice(0, 12));
  const files = {
    hosts: path.join(etc, 'hosts'),
    hostname: path.join(etc, 'hostname'),
    resolvConf: path.join(etc, 'resolv.conf'),
  };
  const own = attachment?.hostsLines.map((l) => `${l}\n`).join('') ?? '';
  writeFileSync(
    files.hosts,
    `127.0.0.1\tlocalhost${own ? '' : ` ${name}`}\n::1\tlocalhost ip6-localhost ip6-loopback\n${own}`,
  );
  writeFileSync(files.hostname, `${name}\n`);
  let resolv = attachment?.resolvConf ?? '';
  if (!resolv) {
    try {
      resolv = readFileSync('/etc/resolv.conf', 'utf8');
    } catch {
      // No resolvers on the node: the container gets an empty resolv.conf, and only names in its hosts file.
    }
  }
  writeFileSync(files.resolvConf, resolv);
  return files;
}
