import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { LIMITS } from './limits.js';
import { loadErrors } from './load-errors.test-helpers.js';
import { loadIn, problemsIn, project } from './temp-project.test-helpers.js';

const db = {
  'db/compose.yml': `services:
  db:
    image: postgres:\${PG_VERSION}
    env_file: db.env
    volumes: ["./init:/docker-entrypoint-initdb.d:ro", "pgdata:/var/lib/postgresql/data"]
    secrets: [db_password]
networks:
  back:
volumes:
  pgdata:
secrets:
  db_password:
    file: ./password.txt
`,
  'db/.env': 'PG_VERSION=16\nAPP_TAG=from-db-env\n',
  'db/db.env': 'POSTGRES_DB=app\n',
  'db/password.txt': 'hunter2',
};

describe('include', () => {
  it('adds the resources of a file loaded with its own directory and .env', () => {
    const dir = project({
      ...db,
      'stack.yml': `include:
  - db/compose.yml
services:
  web:
    image: app:\${APP_TAG:-local}
    depends_on: [db]
    networks: [back]
`,
    });
    const { stack } = loadIn(dir, ['stack.yml']);
    expect(Object.keys(stack.services).sort()).toEqual(['db', 'web']);
    expect(stack.services.db?.image).toBe('postgres:16');
    expect(stack.services.db?.environment).toEqual({ POSTGRES_DB: 'app' });
    expect(stack.services.db?.volumes[0]?.source).toBe(path.join(dir, 'db/init'));
    expect(stack.secrets.db_password?.file).toBe(path.join(dir, 'db/password.txt'));
    expect(Object.keys(stack.networks)).toContain('back');
    expect(Object.keys(stack.volumes)).toContain('pgdata');
    // The included project's .env is its own: the including file does not see its variables.
    expect(stack.services.web?.image).toBe('app:local');
  });

  it("lets the including project's variables win over the included .env", () => {
    const dir = project({ ...db, 'stack.yml': 'include: [db/compose.yml]\nservices:\n  web: {image: app:1}\n' });
    const { stack } = loadIn(dir, ['stack.yml'], { env: { PG_VERSION: '15' } });
    expect(stack.services.db?.image).toBe('postgres:15');
  });

  it('takes the long form: several files, project_directory and env_file', () => {
    const dir = project({
      ...db,
      'db/override.yml': 'services:\n  db:\n    environment: {EXTRA: "1"}\n',
      'env/db.env': 'PG_VERSION=14\n',
      'stack.yml': `include:
  - path: [db/compose.yml, db/override.yml]
    project_directory: db
    env_file: env/db.env
services:
  web: {image: app:1}
`,
    });
    const { stack } = loadIn(dir, ['stack.yml']);
    expect(stack.services.db?.image).toBe('postgres:14');
    expect(stack.services.db?.environment).toEqual({ EXTRA: '1', POSTGRES_DB: 'app' });
  });

  it('accepts a name defined the same way on both sides, and refuses one defined differently', () => {
    const same = project({
      ...db,
      'stack.yml': 'include: [db/compose.yml]\nservices:\n  web: {image: a}\nnetworks:\n  back:\n',
    });
    expect(problemsIn(same, ['stack.yml'])).toBe('');
    const differs = project({
      ...db,
      'stack.yml': 'include: [db/compose.yml]\nservices:\n  web: {image: a}\n  db: {image: mysql}\n',
    });
    expect(problemsIn(differs, ['stack.yml'])).toBe(
      'stack.yml:4:3: services.db: service "db" is also defined, differently, by an included file ' +
        '(db/compose.yml:2:3): include does not merge definitions; rename one, or extend or override it in a -c file instead',
    );
  });

  it('lets an override file change an included service, as Compose merges it', () => {
    const dir = project({
      ...db,
      'stack.yml': 'include: [db/compose.yml]\nservices:\n  web: {image: a}\n',
      'stack.override.yml': 'services:\n  db:\n    environment: [TUNED=1]\n',
    });
    const { stack } = loadIn(dir, ['stack.yml', 'stack.override.yml']);
    expect(stack.services.db?.environment).toEqual({ POSTGRES_DB: 'app', TUNED: '1' });
  });

  it('reports a cycle with its chain, and a missing file, at the entry that names it', () => {
    const dir = project({
      'stack.yml': 'include:\n  - a.yml\n  - missing.yml\nservices:\n  web: {image: a}\n',
      'a.yml': 'include: [b.yml]\nservices:\n  a: {image: a}\n',
      'b.yml': 'include:\n  - stack.yml\n',
    });
    const text = problemsIn(dir, ['stack.yml']);
    expect(text).toContain('stack.yml:3:5: include[1]: include: cannot read missing.yml: no such file');
    expect(text).toContain(
      'b.yml:2:5: include[0]: include forms a cycle: stack.yml → a.yml → b.yml → stack.yml; remove one of these includes',
    );
    expect(text.split('\n')).toHaveLength(2);
  });

  it('reports a problem of an included file at its own line', () => {
    const dir = project({
      'stack.yml': 'include: [sub/x.yml]\nservices:\n  web: {image: a, networks: [front]}\n',
      'sub/x.yml': 'services:\n  x:\n    image: a\n    ports: ["99999:80"]\n',
    });
    const text = problemsIn(dir, ['stack.yml']);
    expect(text).toMatch(/^sub\/x\.yml:4:13: services\.x\.ports\[0\]: /m);
    expect(text).toMatch(/^stack\.yml:3:30: services\.web\.networks\.front: undefined network "front"/m);
  });

  it('refuses entries it cannot read, and an env_file that does not exist', () => {
    const dir = project({
      ...db,
      'stack.yml':
        'include:\n  - {path: db/compose.yml, env_file: nope.env}\n  - {paths: x}\n  - 42\nservices:\n  web: {image: a}\n',
    });
    const text = problemsIn(dir, ['stack.yml']);
    expect(text).toContain('stack.yml:2:38: include[0]: include: env file: cannot read nope.env: no such file');
    expect(text).toContain('stack.yml:3:5: include[1]: include: unknown key "paths"');
    expect(text).toContain('stack.yml:4:5: include[2]: include takes the path of a stack file');
  });

  it('refuses an included file that is empty or not a mapping', () => {
    const dir = project({
      'stack.yml': 'include: [empty.yml, list.yml]\nservices:\n  web: {image: a}\n',
      'empty.yml': '# nothing\n',
      'list.yml': '- a\n',
    });
    expect(problemsIn(dir, ['stack.yml']).split('\n')).toEqual([
      'stack.yml:1:11: include[0]: include: empty.yml is empty',
      'stack.yml:1:22: include[1]: include: list.yml is not a stack file: it must be a mapping',
    ]);
  });

  it('is a clear error where only the stack file can be read (the control API)', () => {
    expect(loadErrors('include: [other.yml]\nservices:\n  web: {image: a}\n')).toBe(
      '/stack.yml:1:11: include[0]: include: cannot read /other.yml: only the stack file itself can be read here (the control API receives one file)',
    );
  });

  it('reads a bounded number of files', () => {
    const files: Record<string, string> = { 'stack.yml': 'include: [i0.yml]\nservices:\n  web: {image: a}\n' };
    for (let i = 0; i <= LIMITS.maxFiles + 2; i++)
      files[`i${i}.yml`] = `include: [i${i + 1}.yml]\nservices:\n  s${i}: {image: a}\n`;
    files[`i${LIMITS.maxFiles + 3}.yml`] = 'services:\n  last: {image: a}\n';
    expect(problemsIn(project(files), ['stack.yml'])).toContain(
      `a stack reads at most ${LIMITS.maxFiles} files through include and extends`,
    );
  });
});
