import { stringify } from 'yaml';

/**
 * A large, varied stack file for benchmarks and scale tests: services with ports, networks, volumes,
 * healthchecks, deploy settings, anchors and interpolation, as real stacks have them.
 */
export function generateStackYaml(services: number): string {
  const doc: Record<string, unknown> = {
    'x-defaults': { stop_grace_period: '20s', logging: { driver: 'json-file', options: { 'max-size': '10m' } } },
    services: {},
    networks: { front: { driver: 'overlay' }, back: { driver: 'overlay', internal: true } },
    volumes: {},
    secrets: { api_key: { external: true } },
  };
  const all = doc.services as Record<string, unknown>;
  const volumes = doc.volumes as Record<string, unknown>;
  for (let i = 0; i < services; i++) {
    const name = `svc-${i}`;
    volumes[`data-${i}`] = {};
    all[name] = {
      image: `registry.example.com:5000/team/${name}:\${TAG:-1.${i % 10}}`,
      command: ['serve', '--port', '8080', `--id=${i}`],
      environment: { SERVICE: name, LOG_LEVEL: 'info', PEER: `svc-${(i + 1) % services}` },
      ports: [`${10000 + i}:8080`, { target: 9090, published: 20000 + i, mode: 'host', protocol: 'udp' }],
      networks: i % 2 ? ['front', 'back'] : { back: { aliases: [`alias-${i}`] } },
      volumes: [`data-${i}:/data`, { type: 'tmpfs', target: '/tmp', tmpfs: { size: '64m' } }],
      secrets: ['api_key'],
      healthcheck: { test: ['CMD', 'wget', '-qO-', 'http://localhost:8080/health'], interval: '10s', retries: 3 },
      depends_on: i > 0 ? [`svc-${i - 1}`] : [],
      deploy: {
        replicas: (i % 5) + 1,
        placement: {
          constraints: ['node.role==worker', `node.labels.zone!=z${i % 3}`],
          preferences: [{ spread: 'node.labels.zone' }],
        },
        resources: { limits: { cpus: '0.5', memory: '256M' }, reservations: { cpus: '0.1', memory: '64M' } },
        restart_policy: { condition: 'on-failure', delay: '5s', max_attempts: 3, window: '2m' },
        update_config: {
          parallelism: 2,
          delay: '10s',
          order: 'start-first',
          failure_action: 'rollback',
          monitor: '30s',
        },
      },
    };
  }
  return stringify(doc, { lineWidth: 0 });
}
