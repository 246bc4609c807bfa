import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runMain } from '../capture-io.test-helpers.js';

const dir = mkdtempSync(path.join(tmpdir(), 'flotilla-cli-profiles-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const STACK = path.join(dir, 'stack.yml');
writeFileSync(
  STACK,
  `services:
  web:
    image: app:1
    environment:
      - PROJECT=\${COMPOSE_PROJECT_NAME}
  debugger:
    image: tools:1
    profiles: [debug]
  e2e:
    image: e2e:1
    depends_on: [seed]
    profiles: [test]
  seed:
    image: seed:1
    profiles: [seed]
`,
);

const run = (env: Record<string, string>, ...args: string[]) => runMain(args, { env });

const servicesIn = (json: string) => Object.keys(JSON.parse(json).services).sort();

describe('stack commands and profiles', () => {
  it('stack config enables the profiles named with --profile, or in COMPOSE_PROFILES', async () => {
    const none = await run({}, 'stack', 'config', '-c', STACK, '--format', 'json');
    expect(none.code).toBe(0);
    expect(servicesIn(none.out)).toEqual(['web']);
    const flags = await run({}, 'stack', 'config', '-c', STACK, '--format', 'json', '--profile', 'debug');
    expect(servicesIn(flags.out)).toEqual(['debugger', 'web']);
    const env = await run({ COMPOSE_PROFILES: 'test,seed' }, 'stack', 'config', '-c', STACK, '--format', 'json');
    expect(servicesIn(env.out)).toEqual(['e2e', 'seed', 'web']);
  });

  it('stack validate reports a dependency on a profile that is not enabled, and counts active services', async () => {
    const bad = await run({}, 'stack', 'validate', '-c', STACK, '--profile', 'test');
    expect(bad.code).toBe(1);
    expect(bad.err).toMatch(
      /stack\.yml:11:18: services\.e2e\.depends_on\.seed: service "seed" is not deployed: .*--profile seed/,
    );
    const good = await run({}, 'stack', 'validate', '-c', STACK, '--profile', 'test', '--profile', 'seed');
    expect(good.code).toBe(0);
    expect(good.out).toContain('valid (3 services)');
  });

  it('${COMPOSE_PROJECT_NAME} is the directory name for stack config', async () => {
    const config = await run({}, 'stack', 'config', '-c', STACK, '--format', 'json');
    expect(JSON.parse(config.out).services.web.environment.PROJECT).toBe(
      path
        .basename(dir)
        .toLowerCase()
        .replace(/[^a-z0-9_-]/g, ''),
    );
  });

  it('stack deploy takes --profile and names the project after the stack, before it contacts the cluster', async () => {
    const file = path.join(dir, 'named.yml');
    // A dependency named after the project: the error shows which name ${COMPOSE_PROJECT_NAME} took.
    writeFileSync(file, 'services:\n  web:\n    image: app:1\n    depends_on:\n      - ${COMPOSE_PROJECT_NAME}\n');
    const deploy = await run({}, 'stack', 'deploy', '-c', file, '--profile', 'x', 'shop');
    expect(deploy.code).toBe(1);
    expect(deploy.err).toContain('services.web.depends_on.shop: undefined service "shop"');
    const dryRun = await run({}, 'stack', 'deploy', '-c', STACK, '--dry-run', '--profile', 'test', 'shop');
    expect(dryRun.err).toContain('service "seed" is not deployed');
  });
});
