import { Code, type ControlServiceClient, FlotillaError, NodeSpec_Availability } from '@flotilla/api';
import type { ActionResult } from '../model.js';
import { unary } from './unary.js';

const AVAILABILITY: Record<string, NodeSpec_Availability> = {
  active: NodeSpec_Availability.AVAILABILITY_ACTIVE,
  pause: NodeSpec_Availability.AVAILABILITY_PAUSE,
  drain: NodeSpec_Availability.AVAILABILITY_DRAIN,
};
// The same bound `service scale` has (a typo of a few digits must not ask for millions of tasks).
const MAX_REPLICAS = 100_000;

/**
 * The page's actions, each the control-API call the CLI makes for the same command, detached (the page watches the
 * result come through the stream).
 */
export async function runAction(
  client: ControlServiceClient,
  kind: 'services' | 'nodes',
  id: string,
  action: string,
  body: Record<string, unknown>,
): Promise<ActionResult> {
  if (kind === 'services' && action === 'scale') {
    const replicas = body.replicas;
    if (typeof replicas !== 'number' || !Number.isInteger(replicas) || replicas < 0 || replicas > MAX_REPLICAS) {
      throw invalid(`replicas must be a whole number from 0 to ${MAX_REPLICAS}`);
    }
    const { service } = await unary(client, client.scaleService, { service: id, replicas: BigInt(replicas) });
    return { ok: true, message: `${service?.spec?.annotations?.name ?? id} scaled to ${replicas}` };
  }
  if (kind === 'services' && action === 'rollback') {
    const { service } = await unary(client, client.rollbackService, { service: id });
    const name = service?.spec?.annotations?.name ?? id;
    return { ok: true, message: `${name}: rolling back to the previous spec (spec version ${service?.specVersion})` };
  }
  if (kind === 'services' && action === 'force') return forceUpdate(client, id);
  if (kind === 'nodes' && action === 'availability') {
    const wanted = typeof body.availability === 'string' ? AVAILABILITY[body.availability] : undefined;
    if (wanted === undefined) throw invalid('availability must be active, pause or drain');
    const { node } = await unary(client, client.updateNode, {
      node: id,
      availability: wanted,
      labelAdd: {},
      labelRm: [],
    });
    return { ok: true, message: `${node?.description?.hostname || id} is now ${body.availability}` };
  }
  throw new FlotillaError(Code.NotFound, `no action ${action} on ${kind}: see the list of actions in the page`);
}

/**
 * `service update --force`: the spec as it stands, written only if it still stands (the manager refuses it
 * otherwise, and it is read again), every task replaced.
 */
async function forceUpdate(client: ControlServiceClient, id: string): Promise<ActionResult> {
  for (let attempt = 1; ; attempt++) {
    const { service: current } = await unary(client, client.getService, { service: id });
    if (!current?.spec) throw new FlotillaError(Code.NotFound, `no service ${id}: it was removed`);
    try {
      const { service } = await unary(client, client.updateService, {
        service: current.id,
        envAdd: [],
        envRm: [],
        force: true,
        spec: current.spec,
        baseSpec: current.spec,
      });
      const name = service?.spec?.annotations?.name ?? id;
      return { ok: true, message: `${name}: replacing every task (spec version ${service?.specVersion})` };
    } catch (err) {
      if (FlotillaError.from(err).code !== Code.Aborted || attempt >= 3) throw err;
    }
  }
}

function invalid(message: string): FlotillaError {
  return new FlotillaError(Code.InvalidArgument, message);
}
