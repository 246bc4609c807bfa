import { timingSafeEqual } from 'node:crypto';
import {
  Code,
  type FileObject,
  FileObjectKind,
  type FileObjectSpec,
  type FileReference,
  FlotillaError,
  type ServiceSpec,
  type StackSpec,
} from '@flotilla/api';
import type { Versioned, Write } from '@flotilla/store';
import { type DataKey, MAX_FILE_OBJECT_BYTES, sealFileObject } from '../../secrets/data-key.js';
import { checkFileObjectName, kindWord } from '../../secrets/file-object-names.js';

/** What a deploy does with one of the stack's secrets or configs. */
export interface FileObjectDecision {
  kind: FileObjectKind;
  /** The object's name in the cluster (`<stack>_<name>`, or its `name:`). */
  name: string;
  /**
   * first: no version of the name yet, version 1 is stored; same: the newest version holds this content and is
   * kept; changed: the content differs from the newest version's, a new version is stored; external: the newest
   * version of an object the stack does not make.
   */
  action: 'first' | 'same' | 'changed' | 'external';
  /** The version the stack's services will use. */
  version: FileObject;
  /** The newest version before the deploy (absent for first). */
  previous?: FileObject;
  /**
   * The new version's write (first and changed); for a kept or external version that no service uses yet, a
   * rewrite of it as it was read, so that the deploy fails rather than pins a version removed meanwhile (the
   * collector and `secret rm` remove a version only as they read it).
   */
  write?: Write;
}

/**
 * Decides which version of each of the stack's secrets and configs its services will use, given every stored
 * version (`existing`): a stack-made object gets a new version only when its content changed (told by the MAC
 * under the data key, without opening the stored one), an external object is the newest version of its name.
 * Pure but for the data key: DeployStack writes the decisions with the services, PlanStack only shows them.
 * `inUse`: the versions stored services name already (nothing can remove those meanwhile). Refuses
 * (FlotillaError) what the deploy refuses; no message holds any content.
 */
export function decideFileObjects(
  existing: readonly Versioned<FileObject>[],
  stack: StackSpec,
  key: DataKey | undefined,
  make: { now: bigint; newId: () => string },
  inUse: ReadonlySet<string> = new Set(),
): FileObjectDecision[] {
  const declared = [
    ...stack.secrets.map((spec) => ({ kind: FileObjectKind.FILE_OBJECT_KIND_SECRET, spec })),
    ...stack.configs.map((spec) => ({ kind: FileObjectKind.FILE_OBJECT_KIND_CONFIG, spec })),
  ];
  if (declared.length === 0) return [];
  if (!key) {
    throw new FlotillaError(
      Code.FailedPrecondition,
      `stack ${stack.name} declares secrets or configs and this manager holds no data key to store them: ` +
        'deploy through a manager that holds the CA key',
    );
  }
  const newest = new Map<string, Versioned<FileObject>>();
  for (const o of existing) {
    const at = `${o.value.kind}/${o.value.name}`;
    const seen = newest.get(at);
    if (!seen || o.value.version > seen.value.version) newest.set(at, o);
  }
  const seen = new Set<string>();
  return declared.map(({ kind, spec }) => {
    const name = spec.annotations?.name ?? '';
    const what = `${kindWord(kind)} ${fileKey(stack.name, name)} of stack ${stack.name}`;
    if (seen.has(`${kind}/${name}`)) throw new FlotillaError(Code.InvalidArgument, `${what} is declared twice`);
    seen.add(`${kind}/${name}`);
    const stored = newest.get(`${kind}/${name}`);
    const decision = spec.external
      ? external(kind, name, what, stored?.value)
      : stackMade(kind, spec, what, stack.name, stored?.value, key, make);
    if (!decision.write && stored && !inUse.has(stored.id)) {
      decision.write = { op: 'update', kind: 'files', id: stored.id, value: stored.value, version: stored.version };
    }
    return decision;
  });
}

function external(
  kind: FileObjectKind,
  name: string,
  what: string,
  previous: FileObject | undefined,
): FileObjectDecision {
  if (!previous) {
    throw new FlotillaError(
      Code.FailedPrecondition,
      `${what} is external but no ${kindWord(kind)} named ${name} exists: create it first ` +
        `(flotilla ${kindWord(kind)} create ${name} FILE), or give it a file in the stack file`,
    );
  }
  return { kind, name, action: 'external', version: previous, previous };
}

function stackMade(
  kind: FileObjectKind,
  spec: FileObjectSpec,
  what: string,
  stack: string,
  previous: FileObject | undefined,
  key: DataKey,
  make: { now: bigint; newId: () => string },
): FileObjectDecision {
  const name = spec.annotations?.name ?? '';
  checkFileObjectName(kind, name);
  if (spec.data.length > MAX_FILE_OBJECT_BYTES) {
    throw new FlotillaError(
      Code.InvalidArgument,
      `${what}: ${spec.data.length} bytes is more than a ${kindWord(kind)} may hold (${MAX_FILE_OBJECT_BYTES} bytes)`,
    );
  }
  if (previous && previous.stack !== stack) {
    const owner = previous.stack ? `by stack ${previous.stack}` : `with flotilla ${kindWord(kind)} create`;
    throw new FlotillaError(
      Code.FailedPrecondition,
      `${what}: a ${kindWord(kind)} named ${name} already exists, made ${owner}: declare it "external: true" to ` +
        'use that one, or give this one another name',
    );
  }
  if (previous && sameMac(previous.contentMac, key.mac(spec.data))) {
    return { kind, name, action: 'same', version: previous, previous };
  }
  const id = make.newId();
  const version = sealFileObject(key, {
    id,
    kind,
    name,
    labels: spec.annotations?.labels ?? {},
    stack,
    version: (previous?.version ?? 0n) + 1n,
    content: spec.data,
    nowMs: Number(make.now),
  });
  return {
    kind,
    name,
    action: previous ? 'changed' : 'first',
    version,
    ...(previous ? { previous } : {}),
    write: { op: 'create', kind: 'files', id, value: version },
  };
}

function sameMac(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

/** The name the stack file gives an object: its cluster name without the stack's prefix. */
export function fileKey(stack: string, name: string): string {
  return name.startsWith(`${stack}_`) ? name.slice(stack.length + 1) : name;
}

/**
 * The stack with each service's secret and config references naming the version decided for them
 * (FileReference.object_id): a new version changes the spec, so the service rolls through its update_config, and
 * a rollback to the previous spec brings the previous version back. A reference to an object the stack does not
 * declare is refused.
 */
export function pinFileObjects(stack: StackSpec, decisions: readonly FileObjectDecision[]): StackSpec {
  const versions = new Map(decisions.map((d) => [`${d.kind}/${d.name}`, d.version.id]));
  const pin = (service: ServiceSpec, kind: FileObjectKind, refs: readonly FileReference[]): FileReference[] =>
    refs.map((ref) => {
      const objectId = versions.get(`${kind}/${ref.source}`);
      if (!objectId) {
        throw new FlotillaError(
          Code.InvalidArgument,
          `service ${service.annotations?.name} uses ${kindWord(kind)} ${fileKey(stack.name, ref.source)}, which ` +
            `stack ${stack.name} does not declare: declare it under the top-level ${kindWord(kind)}s:`,
        );
      }
      return { ...ref, objectId };
    });
  return {
    ...stack,
    services: stack.services.map((service) => {
      const container = service.container;
      if (!container || (container.secrets.length === 0 && container.configs.length === 0)) return service;
      return {
        ...service,
        container: {
          ...container,
          secrets: pin(service, FileObjectKind.FILE_OBJECT_KIND_SECRET, container.secrets),
          configs: pin(service, FileObjectKind.FILE_OBJECT_KIND_CONFIG, container.configs),
        },
      };
    }),
  };
}

/** Decides the versions and pins them: the stack as the deploy stores it, and the objects' writes. */
export function resolveFileObjects(
  existing: readonly Versioned<FileObject>[],
  stack: StackSpec,
  key: DataKey | undefined,
  make: { now: bigint; newId: () => string },
  inUse: ReadonlySet<string> = new Set(),
): { stack: StackSpec; decisions: FileObjectDecision[]; writes: Write[] } {
  const decisions = decideFileObjects(existing, stack, key, make, inUse);
  return {
    stack: pinFileObjects(stack, decisions),
    decisions,
    writes: decisions.flatMap((d) => (d.write ? [d.write] : [])),
  };
}
