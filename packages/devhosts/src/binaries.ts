/** The servers a cluster on one machine runs, from Debian's packages. */
export type ServerName = 'etcd' | 'redis' | 'registry' | 'containerd';

const DEFAULTS: Record<ServerName, { env: string; path: string; debianPackage: string }> = {
  etcd: { env: 'FLOTILLA_ETCD_BIN', path: '/usr/bin/etcd', debianPackage: 'etcd-server' },
  redis: { env: 'FLOTILLA_REDIS_BIN', path: '/usr/bin/redis-server', debianPackage: 'redis-server' },
  registry: { env: 'FLOTILLA_REGISTRY_BIN', path: '/usr/bin/docker-registry', debianPackage: 'docker-registry' },
  containerd: { env: 'FLOTILLA_CONTAINERD_BIN', path: '/usr/bin/containerd', debianPackage: 'containerd' },
};

/** Where a server's binary is: `FLOTILLA_<NAME>_BIN`, or where Debian's package puts it. */
export function serverBinary(name: ServerName): string {
  const known = DEFAULTS[name];
  return process.env[known.env] ?? known.path;
}

/** The Debian package that installs a server's binary, for messages that say what to install. */
export function debianPackageOf(name: ServerName): string {
  return DEFAULTS[name].debianPackage;
}
