import { randomBytes } from 'node:crypto';

let prefix: string | undefined;

/**
 * A short name prefix unique to this test run (`flt` + 6 hex), for namespaces, links, containerd namespaces and
 * temp dirs, so parallel or leftover runs never collide and cleanup can find exactly what this run made.
 */
export function runPrefix(): string {
  prefix ??= `flt${randomBytes(3).toString('hex')}`;
  return prefix;
}
