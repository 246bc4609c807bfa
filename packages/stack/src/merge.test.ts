import { describe, expect, it } from 'vitest';
import { mergeTrees } from './merge.js';
import { toPlain } from './yaml/located.js';
import { parseYaml } from './yaml/parse.js';

function merged(base: string, override: string): unknown {
  const a = parseYaml(base, 'base.yml').root;
  const b = parseYaml(override, 'override.yml').root;
  if (!a || !b) throw new Error('test input does not parse');
  return toPlain(mergeTrees(a, b));
}

describe('merging override files', () => {
  it('merges maps key by key and replaces scalars', () => {
    expect(merged('a: {x: 1, y: 2}', 'a: {y: 3, z: 4}')).toEqual({ a: { x: 1, y: 3, z: 4 } });
  });

  it('replaces commands and healthcheck tests instead of appending', () => {
    const out = merged(
      'services: {s: {command: [a, b], healthcheck: {test: [CMD, x], interval: 5s}}}',
      'services: {s: {command: [c], healthcheck: {test: [CMD-SHELL, y]}}}',
    );
    expect(out).toEqual({
      services: { s: { command: ['c'], healthcheck: { test: ['CMD-SHELL', 'y'], interval: '5s' } } },
    });
  });

  it('merges environment given as a list in one file and a map in the other', () => {
    const out = merged('services: {s: {environment: [A=1, B=2]}}', 'services: {s: {environment: {B: 3, C: 4}}}');
    expect(out).toEqual({ services: { s: { environment: { A: '1', B: 3, C: 4 } } } });
  });

  it('appends env_file, dns and tmpfs given as one value or a list, as Compose does', () => {
    const out = merged(
      'services: {s: {env_file: a.env, dns: 1.1.1.1, tmpfs: [/run]}}',
      'services: {s: {env_file: [b.env], dns: 8.8.8.8, tmpfs: /tmp}}',
    );
    expect(out).toEqual({
      services: { s: { env_file: ['a.env', 'b.env'], dns: ['1.1.1.1', '8.8.8.8'], tmpfs: ['/run', '/tmp'] } },
    });
    // Other scalars are still replaced, not turned into lists.
    expect(merged('services: {s: {user: a}}', 'services: {s: {user: b}}')).toEqual({ services: { s: { user: 'b' } } });
  });

  it('merges ports, volumes and secrets by identity', () => {
    const out = merged(
      'services: {s: {ports: ["80:80"], volumes: ["a:/data", "b:/logs"], secrets: [x]}}',
      'services: {s: {ports: ["80:80", "443:443"], volumes: ["c:/data"], secrets: [{source: x, mode: 0400}, y]}}',
    ) as { services: { s: Record<string, unknown> } };
    expect(out.services.s.ports).toEqual(['80:80', '443:443']);
    expect(out.services.s.volumes).toEqual(['c:/data', 'b:/logs']);
    expect(out.services.s.secrets).toEqual([{ source: 'x', mode: 0o400 }, 'y']);
  });

  it('appends other lists without duplicates and merges depends_on forms', () => {
    const out = merged(
      'services: {s: {cap_add: [NET_ADMIN], depends_on: [db]}}',
      'services: {s: {cap_add: [NET_ADMIN, SYS_TIME], depends_on: {cache: {condition: service_healthy}}}}',
    );
    expect(out).toEqual({
      services: {
        s: {
          cap_add: ['NET_ADMIN', 'SYS_TIME'],
          depends_on: { db: { condition: 'service_started' }, cache: { condition: 'service_healthy' } },
        },
      },
    });
  });

  it('honours !reset and !override', () => {
    const out = merged(
      'services: {s: {ports: ["80:80"], labels: {a: "1"}}}',
      'services: {s: {ports: !reset [], labels: !override {b: "2"}}}',
    );
    expect(out).toEqual({ services: { s: { labels: { b: '2' } } } });
  });

  it('keeps the location of the file that set each value', () => {
    const a = parseYaml('services:\n  s:\n    image: a\n', 'base.yml').root!;
    const b = parseYaml('services:\n  s:\n    image: b\n', 'override.yml').root!;
    const tree = mergeTrees(a, b);
    const image = tree.kind === 'map' ? tree.entries.get('services')?.value : undefined;
    const s = image?.kind === 'map' ? image.entries.get('s')?.value : undefined;
    const entry = s?.kind === 'map' ? s.entries.get('image') : undefined;
    expect(entry?.value.loc).toEqual({ file: 'override.yml', line: 3, col: 12 });
  });
});
