import {
  PortConfig,
  PortConfig_Protocol,
  PortConfig_PublishMode,
  Service,
  ServiceMode,
  ServiceSummary,
} from '@flotilla/api';
import { describe, expect, it } from 'vitest';
import { formatServiceListing } from './service-listing.js';

const summary = (mode: ServiceMode, ports: Partial<PortConfig>[] = []) =>
  ServiceSummary.fromPartial({
    service: Service.fromPartial({
      id: 'abcdefghijklmnopqrstuvwxy',
      spec: { annotations: { name: 'shop_web' }, mode, container: { image: 'nginx:1' } },
      endpointPorts: ports.map((p) => PortConfig.fromPartial(p)),
    }),
    running: 2n,
    desired: 3n,
    completed: 1n,
    completions: 5n,
  });

describe('stack services', () => {
  it("prints docker's columns, the ports the routing mesh publishes last", () => {
    const out = formatServiceListing(
      [
        summary(ServiceMode.SERVICE_MODE_REPLICATED, [
          { targetPort: 80, publishedPort: 8080, protocol: PortConfig_Protocol.PROTOCOL_TCP },
          { targetPort: 53, publishedPort: 30053, protocol: PortConfig_Protocol.PROTOCOL_UDP },
        ]),
      ],
      'table',
    );
    expect(out).toBe(
      'ID             NAME       MODE         REPLICAS   IMAGE     PORTS\n' +
        'abcdefghijkl   shop_web   replicated   2/3        nginx:1   *:8080->80/tcp, *:30053->53/udp\n',
    );
  });

  it("shows a job's completions as docker does, and only IDs with -q", () => {
    const job = summary(ServiceMode.SERVICE_MODE_REPLICATED_JOB);
    expect(formatServiceListing([job], 'table')).toContain('replicated job   2/3 (1/5 completed)');
    expect(formatServiceListing([job], 'table', true)).toBe('abcdefghijklmnopqrstuvwxy\n');
  });

  it('leaves out host-mode ports (the tasks publish those) and ports not published, in the table and the JSON', () => {
    const s = summary(ServiceMode.SERVICE_MODE_GLOBAL, [
      { targetPort: 80, publishedPort: 8080, publishMode: PortConfig_PublishMode.PUBLISH_MODE_HOST },
      { targetPort: 9000, publishedPort: 0 },
      { targetPort: 443, publishedPort: 8443, hostIp: '127.0.0.1' },
    ]);
    const [, row] = formatServiceListing([s], 'table').trimEnd().split('\n');
    // docker's `service ls` prints an ingress port as *:PUBLISHED->TARGET whatever it was published on.
    expect(row).toMatch(/\s\*:8443->443\/tcp$/);
    expect(row).not.toContain('8080');
    expect(row).not.toContain('9000');
    const [json] = JSON.parse(formatServiceListing([s], 'json'));
    expect(json.Ports).toBe('*:8443->443/tcp');
    expect(formatServiceListing([s], '{{.Ports}}')).toBe('*:8443->443/tcp\n');
  });

  it("prints the JSON service ls prints (docker's fields), whatever the options", () => {
    const [json] = JSON.parse(formatServiceListing([summary(ServiceMode.SERVICE_MODE_REPLICATED)], 'json', true));
    expect(json).toMatchObject({ ID: 'abcdefghijklmnopqrstuvwxy', Replicas: '2/3' });
  });
});
