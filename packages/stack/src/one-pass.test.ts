import { describe, expect, it } from 'vitest';
import { problemsIn, project } from './temp-project.test-helpers.js';

describe('one validation pass', () => {
  it('reports every problem of every kind at once, each at its place', () => {
    const dir = project({
      'stack.yml': `services:
  bad-port:
    image: app:1
    ports: ["99999:80"]
    networks: [nowhere]
  typo:
    image: app:1
    restrat: always
  no-net:
    image: app:1
    networks: [missing-net]
  no-env:
    image: app:1
    env_file: ./absent.env
  no-config:
    image: app:1
    configs: [undeclared]
  no-image:
    environment: [A=1]
  broken-extends:
    extends: nothere
  needs-var:
    image: app:\${TAG:?set TAG to deploy}
  cycle-a:
    image: app:1
    depends_on: [cycle-b]
  cycle-b:
    image: app:1
    depends_on: [cycle-a]
  uses-bad-net:
    image: app:1
    networks: [bad-net]
networks:
  bad-net:
    internal: sometimes
configs:
  lost:
    file: ./lost.conf
`,
    });
    expect(problemsIn(dir, ['stack.yml']).split('\n')).toEqual([
      'stack.yml:4:13: services.bad-port.ports[0]: invalid port "99999:80": port 99999 is out of range 1-65535',
      'stack.yml:5:16: services.bad-port.networks.nowhere: undefined network "nowhere": declare it under the top-level networks: section',
      'stack.yml:8:5: services.typo.restrat: unknown key "restrat" (did you mean "restart"?)',
      'stack.yml:11:16: services.no-net.networks.missing-net: undefined network "missing-net": declare it under the top-level networks: section',
      'stack.yml:14:15: services.no-env.env_file[0]: env_file file "./absent.env" does not exist (paths are relative to the first stack file\'s directory)',
      'stack.yml:17:15: services.no-config.configs[0]: undefined config "undeclared": declare it under the top-level configs: section',
      'stack.yml:18:3: services.no-image: missing required key "image": a cluster runs images from a registry',
      'stack.yml:21:5: services.broken-extends.extends: extends: no service "nothere" in this file',
      'stack.yml:23:12: services.needs-var.image: required variable TAG is not set: set TAG to deploy (set it in the environment or in a .env file beside the stack file)',
      'stack.yml:26:5: services.cycle-a.depends_on: depends_on forms a cycle: cycle-a → cycle-b → cycle-a; remove one of these dependencies',
      'stack.yml:35:15: networks.bad-net.internal: Invalid option: expected one of "true"|"false"|"True"|"False"|"TRUE"|"FALSE"',
      'stack.yml:38:11: configs.lost.file: config file "./lost.conf" does not exist (paths are relative to the first stack file\'s directory)',
    ]);
  });

  it('says a problem once: a value whose variable is missing is not also reported as invalid', () => {
    const dir = project({
      'stack.yml': 'services:\n  web:\n    image: app:1\n    ports:\n      - "${PORT:?set PORT}:80"\n',
    });
    expect(problemsIn(dir, ['stack.yml'])).toBe(
      'stack.yml:5:9: services.web.ports[0]: required variable PORT is not set: set PORT (set it in the environment or in a .env file beside the stack file)',
    );
  });

  it('reports problems in every file of a stack together', () => {
    const dir = project({
      'stack.yml': 'services:\n  web:\n    image: app:1\n    extends: {file: base.yml, service: base}\n',
      'base.yml': 'services:\n  base:\n    image: app:1\n    stop_grace_period: soon\n    networks: [gone]\n',
      'over.yml': 'services:\n  web:\n    deploy: {replicas: many}\n',
    });
    expect(problemsIn(dir, ['stack.yml', 'over.yml']).split('\n')).toEqual([
      expect.stringMatching(/^base\.yml:4:24: services\.web\.stop_grace_period: /),
      expect.stringMatching(/^base\.yml:5:16: services\.web\.networks\.gone: undefined network "gone"/),
      'over.yml:3:24: services.web.deploy.replicas: expected a whole number, got "many"',
    ]);
  });
});
