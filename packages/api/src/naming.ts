/**
 * Names of stacks, services, networks, volumes, configs and secrets: what DNS and container runtimes accept
 * (letters, digits, `_`, `.`, `-`, starting with a letter or digit).
 */
export const OBJECT_NAME_PATTERN = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

export function isValidObjectName(name: string): boolean {
  return name.length <= 63 && OBJECT_NAME_PATTERN.test(name);
}

/** The cluster-wide name of an object that belongs to a stack, as `docker stack deploy` names it. */
export function qualify(stack: string, name: string): string {
  return `${stack}_${name}`;
}
