import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadStackText } from './load.js';
import { loadIn, problemsIn, project, warningsIn } from './temp-project.test-helpers.js';

describe('${COMPOSE_PROJECT_NAME}', () => {
  const stack = 'services:\n  web:\n    image: app:1\n    environment:\n      - PROJECT=${COMPOSE_PROJECT_NAME}\n';
  const projectOf = (files: Record<string, string>, options: Parameters<typeof loadIn>[2] = {}) =>
    loadIn(project(files), ['app/stack.yml'], options).stack.services.web?.environment.PROJECT;

  it('is the stack name given (what deploy passes)', () => {
    expect(projectOf({ 'app/stack.yml': `name: other\n${stack}` }, { projectName: 'shop' })).toBe('shop');
  });

  it('is the top-level name, else the project directory name made valid', () => {
    expect(projectOf({ 'app/stack.yml': `name: \${NAME:-billing}\n${stack}` })).toBe('billing');
    const loaded = loadIn(project({ 'My App.v2/stack.yml': stack }), ['My App.v2/stack.yml']);
    expect(loaded.stack.services.web?.environment.PROJECT).toBe('myappv2');
  });

  it('is COMPOSE_PROJECT_NAME when the environment sets it and no name is given', () => {
    expect(projectOf({ 'app/stack.yml': `name: other\n${stack}` }, { env: { COMPOSE_PROJECT_NAME: 'env' } })).toBe(
      'env',
    );
    expect(projectOf({ 'app/stack.yml': stack }, { env: { COMPOSE_PROJECT_NAME: 'env' }, projectName: 'x' })).toBe('x');
  });

  it('and profiles are taken by loadStackText (the control API) as well', () => {
    const text = `${stack}  dbg:\n    image: tools:1\n    profiles: [debug]\n`;
    const loaded = loadStackText(text, { projectName: 'api', profiles: ['debug'] });
    expect(loaded.stack.services.web?.environment.PROJECT).toBe('api');
    expect(Object.keys(loaded.stack.services)).toEqual(['web', 'dbg']);
    expect(Object.keys(loadStackText(text).stack.services)).toEqual(['web']);
  });

  it('is set in included files too, and never warned of as unset', () => {
    const loaded = loadIn(
      project({
        'app/stack.yml': 'include: [inc/x.yml]\nservices:\n  web: {image: a}\n',
        'app/inc/x.yml': 'services:\n  x:\n    image: a\n    labels:\n      - project=${COMPOSE_PROJECT_NAME}\n',
      }),
      ['app/stack.yml'],
      { projectName: 'shop' },
    );
    expect(loaded.stack.services.x?.labels).toEqual({ project: 'shop' });
    expect(loaded.warnings).toEqual([]);
  });
});

describe('an empty override file', () => {
  it('is accepted with a warning', () => {
    const dir = project({
      'stack.yml': 'services:\n  web: {image: a}\n',
      'empty.yml': '',
      'comments.yml': '# nothing here yet\n# services:\n',
    });
    const loaded = loadIn(dir, ['stack.yml', 'empty.yml', 'comments.yml']);
    expect(Object.keys(loaded.stack.services)).toEqual(['web']);
    expect(warningsIn(loaded, dir)).toEqual([
      'empty.yml:1:1: the file is empty: it changes nothing',
      'comments.yml:1:1: the file is empty: it changes nothing',
    ]);
  });

  it('is still refused as the stack file itself', () => {
    const dir = project({ 'stack.yml': '# nothing\n', 'over.yml': 'services:\n  web: {image: a}\n' });
    expect(problemsIn(dir, ['stack.yml', 'over.yml'])).toBe(
      'stack.yml:1:1: the file is empty: a stack file is a mapping with at least services:',
    );
  });
});

describe('~ in paths', () => {
  const home = process.env.HOME;
  afterEach(() => {
    process.env.HOME = home;
  });

  it('is the home directory in a config or secret file, env_file and a bind source', () => {
    const dir = project({
      'home/app.conf': 'listen 80;\n',
      'home/secret.txt': 's3cret',
      'home/web.env': 'FROM_HOME=1\n',
      'stack.yml': `services:
  web:
    image: a
    env_file: ~/web.env
    volumes: ["~/data:/data"]
    configs: [conf]
    secrets: [key]
configs:
  conf:
    file: ~/app.conf
secrets:
  key:
    file: ~/secret.txt
`,
    });
    process.env.HOME = path.join(dir, 'home');
    const loaded = loadIn(dir, ['stack.yml']);
    expect(loaded.stack.configs.conf?.file).toBe(path.join(dir, 'home/app.conf'));
    expect(loaded.stack.secrets.key?.file).toBe(path.join(dir, 'home/secret.txt'));
    expect(loaded.objectData('configs', 'conf').toString()).toBe('listen 80;\n');
    expect(loaded.stack.services.web?.environment).toEqual({ FROM_HOME: '1' });
    expect(loaded.stack.services.web?.volumes[0]?.source).toBe(path.join(dir, 'home/data'));
  });

  it('is the home directory in extends.file and include', () => {
    const dir = project({
      'home/common.yml': 'services:\n  base:\n    image: app:1\n    env_file: base.env\n',
      'home/base.env': 'FROM=home\n',
      'home/db.yml': 'services:\n  db: {image: postgres:16}\n',
      'stack.yml': 'include: [~/db.yml]\nservices:\n  web:\n    extends: {file: ~/common.yml, service: base}\n',
    });
    process.env.HOME = path.join(dir, 'home');
    const { stack } = loadIn(dir, ['stack.yml']);
    expect(stack.services.web?.environment).toEqual({ FROM: 'home' });
    expect(stack.services.db?.image).toBe('postgres:16');
  });

  it('says where a file under ~ is missing', () => {
    const dir = project({
      'stack.yml': 'services:\n  web: {image: a, configs: [c]}\nconfigs:\n  c:\n    file: ~/nope.conf\n',
    });
    process.env.HOME = path.join(dir, 'home');
    expect(problemsIn(dir, ['stack.yml'])).toBe(
      'stack.yml:5:11: configs.c.file: config file "home/nope.conf" does not exist',
    );
  });
});
