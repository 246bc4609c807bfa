/**
 * The `flotilla agent start` options of a node on a namespace host: its state directory, the host's own
 * containerd, and the registry it pulls from (on the hosts' gateway, over plain HTTP).
 */
export function hostAgentArgs(node: {
  stateDir: string;
  containerd: { socket: string; namespace: string };
  registry: string;
}): string[] {
  return [
    '--state-dir',
    node.stateDir,
    '--executor',
    'containerd',
    '--containerd-socket',
    node.containerd.socket,
    '--containerd-namespace',
    node.containerd.namespace,
    '--insecure-registry',
    node.registry,
  ];
}
