import {
  AdmissionPolicy,
  Allocation,
  Cluster,
  FileObject,
  Manager,
  Network,
  Node,
  Revocation,
  Service,
  Task,
} from '@flotilla/api';

/** The protobuf codec of each kind of object. */
export interface Codec<T> {
  encode(message: T): { finish(): Uint8Array };
  decode(input: Uint8Array): T;
}

export const KINDS = {
  nodes: Node as Codec<Node>,
  services: Service as Codec<Service>,
  tasks: Task as Codec<Task>,
  networks: Network as Codec<Network>,
  clusters: Cluster as Codec<Cluster>,
  allocations: Allocation as Codec<Allocation>,
  managers: Manager as Codec<Manager>,
  /** Revoked identities (revocationKey in @flotilla/pki): every manager watches them. */
  revocations: Revocation as Codec<Revocation>,
  /** Secrets and configs, one object per version, their content sealed (see DataKey in @flotilla/manager). */
  files: FileObject as Codec<FileObject>,
  /** The admission policy, apart from the Cluster object so a deploy can require it unchanged (CLUSTER_KEY). */
  admission: AdmissionPolicy as Codec<AdmissionPolicy>,
} as const;

export type Kind = keyof typeof KINDS;
export type ObjectOf<K extends Kind> = (typeof KINDS)[K] extends Codec<infer T> ? T : never;

/** The ID of the one Cluster object (settings, CA certificate, join token hashes). */
export const CLUSTER_KEY = 'default';

/** Every key of the store lives under this versioned prefix. */
export const ROOT = '/flotilla/v1/';

export function prefixOf(kind: Kind): string {
  return `${ROOT}${kind}/`;
}

export function keyOf(kind: Kind, id: string): string {
  if (!id || id.includes('/')) throw new Error(`invalid object id ${JSON.stringify(id)}`);
  return `${prefixOf(kind)}${id}`;
}
