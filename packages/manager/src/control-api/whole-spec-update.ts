import {
  Code,
  checkReplicas,
  FileObjectSpec,
  FlotillaError,
  isGlobalMode,
  type Service,
  ServiceSpec,
  type StackSpec,
  type UpdateServiceRequest,
} from '@flotilla/api';
import type { Versioned, Write } from '@flotilla/store';
import type { DataKey } from '../secrets/data-key.js';
import { resolveFileObjects } from './deploy/file-object-versions.js';
import { checkAddresses, checkPublishedPorts, networkWrites, serviceName, taskChange } from './deploy/stack-changes.js';

/** What the store holds that a whole-spec update is checked against. */
export interface UpdateContext {
  services: readonly Versioned<Service>[];
  networks: Parameters<typeof networkWrites>[0];
  files: Parameters<typeof resolveFileObjects>[0];
  dataKey: DataKey | undefined;
  make: { now: bigint; newId: () => string };
}

/**
 * `service update` with a whole spec (UpdateServiceRequest.spec), computed by the CLI from the spec it read
 * (base_spec) and its flags. The server stays the judge: the spec is taken only if the service's spec is still
 * base_spec (an update that raced this one is not silently undone; the CLI reads and computes again), what a
 * service cannot change is refused, and the checks a deploy makes (published ports, addresses, networks, secret
 * and config versions) are made again. Returns the spec to write and the writes that pin the secret and config
 * versions it newly names.
 */
export function wholeSpecUpdate(
  found: Service,
  request: UpdateServiceRequest,
  context: UpdateContext,
): { spec: ServiceSpec; writes: Write[] } {
  const name = serviceName(found);
  const after = ServiceSpec.fromPartial(request.spec ?? {});
  if (request.image !== undefined || request.replicas !== undefined || request.envAdd.length || request.envRm.length) {
    throw new FlotillaError(
      Code.InvalidArgument,
      'an update with a whole spec sets image, env and replicas in that spec, not beside it',
    );
  }
  if (!request.baseSpec || taskChange(request.baseSpec, found.spec ?? ServiceSpec.fromPartial({})) !== 'none') {
    throw new FlotillaError(
      Code.Aborted,
      `${name} changed since its spec was read for this update: run the update again (it starts from the new spec)`,
    );
  }
  const before = found.spec ?? ServiceSpec.fromPartial({});
  const fixed: [string, unknown, unknown][] = [
    ['name', before.annotations?.name, after.annotations?.name],
    ['stack', before.stack, after.stack],
    ['mode', before.mode, after.mode],
    ['sidecar', JSON.stringify(before.sidecar ?? null), JSON.stringify(after.sidecar ?? null)],
  ];
  for (const [what, was, is] of fixed) {
    if (was !== is) {
      throw new FlotillaError(
        Code.InvalidArgument,
        `the ${what} of ${name} cannot change in an update: remove the service and create it again`,
      );
    }
  }
  if (after.replicas !== before.replicas) {
    if (isGlobalMode(after.mode)) {
      throw new FlotillaError(Code.FailedPrecondition, `${name} is global: it cannot be scaled`);
    }
    if (after.sidecar) {
      throw new FlotillaError(
        Code.FailedPrecondition,
        `${name} is a sidecar of ${after.sidecar.service}: scale ${after.sidecar.service} instead`,
      );
    }
    checkReplicas(after.replicas, name);
  }
  const alone: StackSpec = {
    name: after.stack,
    services: [after],
    networks: [],
    volumes: [],
    configs: [],
    secrets: [],
  };
  checkPublishedPorts(context.services, alone, false);
  checkAddresses(alone);
  // A network added must exist (an update creates none).
  const attached = new Set(before.networks.map((n) => n.target));
  networkWrites(
    context.networks,
    {
      ...alone,
      networks: after.networks
        .filter((n) => !attached.has(n.target))
        .map((n) => ({
          annotations: { name: n.target, labels: {} },
          driver: '',
          driverOpts: {},
          internal: false,
          attachable: false,
          enableIpv6: false,
          external: true,
          ipam: [],
        })),
    },
    context.make,
  );
  return pinNewFileObjects(after, context);
}

/**
 * A secret or config the update adds (no version named yet) gets the newest version of its name, as a deploy pins
 * an external one; those already named keep their versions, so the update does not roll them by accident.
 */
function pinNewFileObjects(spec: ServiceSpec, context: UpdateContext): { spec: ServiceSpec; writes: Write[] } {
  const container = spec.container;
  if (!container) return { spec, writes: [] };
  const newSecrets = container.secrets.filter((r) => !r.objectId);
  const newConfigs = container.configs.filter((r) => !r.objectId);
  if (newSecrets.length === 0 && newConfigs.length === 0) return { spec, writes: [] };
  const declare = (refs: readonly { source: string }[]) =>
    [...new Set(refs.map((r) => r.source))].map((n) =>
      FileObjectSpec.fromPartial({ annotations: { name: n, labels: {} }, external: true }),
    );
  // Only the new references go through the deploy's pinning: it refuses a reference it was not told about.
  const added = { ...spec, container: { ...container, secrets: newSecrets, configs: newConfigs } };
  const resolved = resolveFileObjects(
    context.files,
    {
      name: spec.stack,
      services: [added],
      networks: [],
      volumes: [],
      configs: declare(newConfigs),
      secrets: declare(newSecrets),
    },
    context.dataKey,
    context.make,
  );
  const pinned = resolved.stack.services[0]?.container ?? added.container;
  const merge = <T extends { objectId: string }>(all: readonly T[], fresh: readonly T[]) => {
    let next = 0;
    return all.map((r) => (r.objectId ? r : (fresh[next++] ?? r)));
  };
  return {
    spec: {
      ...spec,
      container: {
        ...container,
        secrets: merge(container.secrets, pinned.secrets),
        configs: merge(container.configs, pinned.configs),
      },
    },
    writes: resolved.writes,
  };
}
