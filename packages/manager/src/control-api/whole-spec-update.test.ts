import {
  Code,
  FlotillaError,
  Network,
  PortConfig_Protocol,
  Service,
  ServiceMode,
  ServiceSpec,
  UpdateServiceRequest,
} from '@flotilla/api';
import { describe, expect, it } from 'vitest';
import { wholeSpecUpdate } from './whole-spec-update.js';

// Loosely typed: fromPartial fills in the rest.
const spec = (more: Record<string, unknown> = {}) =>
  ServiceSpec.fromPartial({
    annotations: { name: 'web' },
    mode: ServiceMode.SERVICE_MODE_REPLICATED,
    replicas: 2n,
    container: { image: 'nginx:1' },
    ...more,
  } as ServiceSpec);
const service = Service.fromPartial({ id: 's1', spec: spec(), specVersion: 1n });
const other = {
  id: 's2',
  version: 1n,
  value: Service.fromPartial({
    id: 's2',
    spec: spec({
      annotations: { name: 'api' },
      endpoint: { ports: [{ targetPort: 80, publishedPort: 8080, protocol: PortConfig_Protocol.PROTOCOL_TCP }] },
    }),
  }),
};
const context = {
  services: [{ id: 's1', version: 1n, value: service }, other],
  networks: [
    { id: 'n1', version: 1n, value: Network.fromPartial({ id: 'n1', spec: { annotations: { name: 'front' } } }) },
  ],
  files: [],
  dataKey: undefined,
  make: { now: 1n, newId: () => 'x' },
};
const request = (after: ServiceSpec, base: ServiceSpec | null = service.spec ?? null, more = {}) =>
  UpdateServiceRequest.fromPartial({ service: 'web', spec: after, ...(base ? { baseSpec: base } : {}), ...more });

function refusal(run: () => unknown): FlotillaError {
  try {
    run();
  } catch (err) {
    if (err instanceof FlotillaError) return err;
    throw err;
  }
  throw new Error('expected a refusal');
}

describe('wholeSpecUpdate', () => {
  it('takes a spec computed from the current one, with a network that exists', () => {
    const after = spec({ replicas: 3n, container: { image: 'nginx:2' }, networks: [{ target: 'front', aliases: [] }] });
    expect(wholeSpecUpdate(service, request(after), context)).toEqual({ spec: after, writes: [] });
  });

  it('refuses a spec computed from one that changed since (Aborted: the CLI computes it again)', () => {
    const err = refusal(() => wholeSpecUpdate(service, request(spec(), spec({ replicas: 9n })), context));
    expect(err.code).toBe(Code.Aborted);
    expect(refusal(() => wholeSpecUpdate(service, request(spec(), null), context)).code).toBe(Code.Aborted);
  });

  it('refuses what an update cannot change, and old fields beside a whole spec', () => {
    const mode = refusal(() =>
      wholeSpecUpdate(service, request(spec({ mode: ServiceMode.SERVICE_MODE_GLOBAL })), context),
    );
    expect(mode.message).toMatch(/the mode of web cannot change/);
    const renamed = refusal(() => wholeSpecUpdate(service, request(spec({ annotations: { name: 'w2' } })), context));
    expect(renamed.message).toMatch(/the name of web cannot change/);
    const beside = refusal(() => wholeSpecUpdate(service, request(spec(), service.spec, { image: 'x' }), context));
    expect(beside.code).toBe(Code.InvalidArgument);
  });

  it('makes the checks a deploy makes: a port another service publishes, a network that does not exist', () => {
    const port = spec({
      endpoint: { ports: [{ targetPort: 80, publishedPort: 8080, protocol: PortConfig_Protocol.PROTOCOL_TCP }] },
    });
    expect(refusal(() => wholeSpecUpdate(service, request(port), context)).message).toMatch(
      /already published by service api/,
    );
    const missing = spec({ networks: [{ target: 'nowhere', aliases: [] }] });
    expect(refusal(() => wholeSpecUpdate(service, request(missing), context)).message).toMatch(
      /network nowhere .*does not exist/,
    );
  });
});
