import {
  Mount_Type,
  PortConfig_Protocol,
  PortConfig_PublishMode,
  ServiceMode,
  ServiceSpec,
  UpdateConfig_Order,
} from '@flotilla/api';
import { describe, expect, it } from 'vitest';
import { bytes, diffSpecs, duration } from './spec-diff.js';

const base = ServiceSpec.fromPartial({
  annotations: { name: 'web_api', labels: { 'com.docker.stack.namespace': 'web' } },
  stack: 'web',
  mode: ServiceMode.SERVICE_MODE_REPLICATED,
  replicas: 2n,
  container: {
    image: 'nginx:1.25',
    env: ['A=1', 'B=2'],
    labels: { tier: 'front' },
    mounts: [{ type: Mount_Type.TYPE_VOLUME, source: 'web_data', target: '/data' }],
    stopGracePeriodNs: 10_000_000_000n,
  },
  resources: { limits: { memoryBytes: 256n * 1024n ** 2n } },
  endpoint: {
    ports: [
      {
        protocol: PortConfig_Protocol.PROTOCOL_TCP,
        targetPort: 80,
        publishedPort: 8080,
        publishMode: PortConfig_PublishMode.PUBLISH_MODE_INGRESS,
      },
    ],
  },
});

/** The base spec with `change` applied to a deep copy. */
function changed(change: (s: ServiceSpec) => void): ServiceSpec {
  const copy = ServiceSpec.fromPartial(base);
  change(copy);
  return copy;
}

describe('diffSpecs', () => {
  it('finds nothing between equal specs', () => {
    expect(diffSpecs(base, ServiceSpec.fromPartial(base))).toEqual([]);
  });

  it('shows an image change with both values', () => {
    const after = changed((s) => {
      if (s.container) s.container.image = 'nginx:1.27';
    });
    expect(diffSpecs(base, after)).toEqual([{ path: 'container.image', before: 'nginx:1.25', after: 'nginx:1.27' }]);
  });

  it('shows environment variables added, removed and changed by name', () => {
    const after = changed((s) => {
      if (s.container) s.container.env = ['A=10', 'MODE=prod'];
    });
    expect(diffSpecs(base, after)).toEqual([
      { path: 'container.env[A]', before: '1', after: '10' },
      { path: 'container.env[B]', before: '2' },
      { path: 'container.env[MODE]', after: 'prod' },
    ]);
  });

  it('shows the replica count, zero included', () => {
    expect(
      diffSpecs(
        base,
        changed((s) => (s.replicas = 5n)),
      ),
    ).toEqual([{ path: 'replicas', before: '2', after: '5' }]);
    expect(
      diffSpecs(
        base,
        changed((s) => (s.replicas = 0n)),
      ),
    ).toEqual([{ path: 'replicas', before: '2', after: '0' }]);
  });

  it('shows resources with units, an unset limit as unset', () => {
    const after = changed((s) => {
      s.resources = { limits: { memoryBytes: 512n * 1024n ** 2n, nanoCpus: 500_000_000n, pids: 0n } };
    });
    expect(diffSpecs(base, after)).toEqual([
      { path: 'resources.limits.nano_cpus', after: '0.5' },
      { path: 'resources.limits.memory_bytes', before: '256MiB', after: '512MiB' },
    ]);
    const cleared = changed((s) => {
      s.resources = undefined;
    });
    expect(diffSpecs(base, cleared)).toEqual([{ path: 'resources.limits.memory_bytes', before: '256MiB' }]);
  });

  it('shows labels by key, service and container labels apart', () => {
    const after = changed((s) => {
      if (s.container) s.container.labels = { tier: 'back', team: 'core' };
      if (s.annotations) s.annotations.labels = { ...s.annotations.labels, owner: 'ops' };
    });
    expect(diffSpecs(base, after)).toEqual([
      { path: 'annotations.labels[owner]', after: 'ops' },
      { path: 'container.labels[team]', after: 'core' },
      { path: 'container.labels[tier]', before: 'front', after: 'back' },
    ]);
  });

  it('shows a mount by its target: a changed field, or a whole mount added with its set fields', () => {
    const after = changed((s) => {
      if (!s.container) return;
      s.container.mounts = [
        { ...(s.container.mounts[0] as NonNullable<ServiceSpec['container']>['mounts'][number]), readOnly: true },
        {
          ...s.container.mounts[0],
          type: Mount_Type.TYPE_TMPFS,
          source: '',
          target: '/tmp',
          tmpfsMode: 0o1777,
        } as never,
      ];
    });
    expect(diffSpecs(base, after)).toEqual([
      { path: 'container.mounts[/data].read_only', before: 'false', after: 'true' },
      { path: 'container.mounts[/tmp]', after: 'type=tmpfs target=/tmp tmpfs_mode=01777' },
    ]);
  });

  it('shows a port by target and protocol, with enum values by name', () => {
    const after = changed((s) => {
      s.endpoint = {
        mode: 0,
        ports: [
          {
            name: '',
            hostIp: '',
            protocol: PortConfig_Protocol.PROTOCOL_TCP,
            targetPort: 80,
            publishedPort: 8081,
            publishMode: PortConfig_PublishMode.PUBLISH_MODE_HOST,
          },
          {
            name: '',
            hostIp: '',
            protocol: PortConfig_Protocol.PROTOCOL_UDP,
            targetPort: 53,
            publishedPort: 53,
            publishMode: PortConfig_PublishMode.PUBLISH_MODE_INGRESS,
          },
        ],
      };
    });
    expect(diffSpecs(base, after)).toEqual([
      { path: 'endpoint.ports[80/tcp].published_port', before: '8080', after: '8081' },
      { path: 'endpoint.ports[80/tcp].publish_mode', before: 'ingress', after: 'host' },
      {
        path: 'endpoint.ports[53/udp]',
        after: 'protocol=udp target_port=53 published_port=53 publish_mode=ingress',
      },
    ]);
  });

  it('shows lists whole, durations with units, and enum names in stack-file words', () => {
    const after = changed((s) => {
      if (s.container) {
        s.container.command = ['nginx', '-g', 'daemon off;'];
        s.container.commandSet = true;
        s.container.stopGracePeriodNs = 90_000_000_000n;
      }
      s.placement = { constraints: [{ field: 'node.role', operator: 2, value: 'manager' }], spread: [] } as never;
      s.updateConfig = { order: UpdateConfig_Order.ORDER_START_FIRST } as never;
    });
    expect(diffSpecs(base, after)).toEqual([
      { path: 'container.command', after: '["nginx","-g","daemon off;"]' },
      { path: 'container.command_set', before: 'false', after: 'true' },
      { path: 'container.stop_grace_period_ns', before: '10s', after: '1m30s' },
      { path: 'placement.constraints', after: '["node.role!=manager"]' },
      { path: 'update_config.order', after: 'start-first' },
    ]);
  });

  it('diffs against nothing as every set field added', () => {
    const all = diffSpecs(undefined, base);
    expect(all).toContainEqual({ path: 'container.image', after: 'nginx:1.25' });
    expect(all).toContainEqual({ path: 'mode', after: 'replicated' });
    expect(all).toContainEqual({ path: 'replicas', before: '0', after: '2' });
    expect(all.filter((c) => c.before !== undefined).map((c) => c.path)).toEqual(['replicas']);
  });
});

describe('units', () => {
  it('writes durations as Go does', () => {
    expect([0n, 500_000_000n, 5_000_000_000n, 3_600_000_000_000n, 3_661_000_000_000n, 1_500n].map(duration)).toEqual([
      '0s',
      '500ms',
      '5s',
      '1h',
      '1h1m1s',
      '1500ns',
    ]);
  });

  it('writes sizes in the largest binary unit that divides them', () => {
    expect([1024n ** 3n, 1536n * 1024n, 100n].map(bytes)).toEqual(['1GiB', '1536KiB', '100B']);
  });
});
