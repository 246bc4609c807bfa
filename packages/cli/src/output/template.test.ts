import { FlotillaError } from '@flotilla/api';
import { describe, expect, it } from 'vitest';
import { compileTemplate, headerOf } from './template.js';

const FIELDS = ['ID', 'Name', 'DesiredState', 'Labels', 'Replicas'];
const rows = [
  { ID: 'abc123', Name: 'web_web', DesiredState: 'running', Labels: ['a', 'b'], Replicas: '3/3' },
  { ID: 'def456', Name: 'web_db', DesiredState: 'shutdown', Labels: [], Replicas: '1/1' },
];
const render = (format: string) => compileTemplate(format, FIELDS).render(rows);

function usageFailure(format: string): FlotillaError {
  try {
    compileTemplate(format, FIELDS);
  } catch (err) {
    if (err instanceof FlotillaError) return err;
    throw err;
  }
  throw new Error(`${format} was accepted`);
}

describe('--format templates', () => {
  it('prints a field a line, and several fields with a typed \\t between them', () => {
    expect(render('{{.Name}}')).toBe('web_web\nweb_db\n');
    expect(render('{{.ID}}\\t{{.Name}}: {{.DesiredState}}')).toBe(
      'abc123\tweb_web: running\ndef456\tweb_db: shutdown\n',
    );
  });

  it('prints JSON of the row or of a field, and changes case', () => {
    expect(JSON.parse(render('{{json .}}').split('\n')[0] as string)).toEqual(rows[0]);
    expect(render('{{json .Labels}}')).toBe('["a","b"]\n[]\n');
    expect(render('{{upper .Name}} {{lower "ABC"}} {{title .DesiredState}}')).toBe(
      'WEB_WEB abc Running\nWEB_DB abc Shutdown\n',
    );
    expect(render('{{join .Labels ","}}|{{truncate .ID 3}}')).toBe('a,b|abc\n|def\n');
  });

  it('trims white space beside {{- and -}} as Go does', () => {
    expect(render('{{.ID}}   {{- .Name}}')).toBe('abc123web_web\ndef456web_db\n');
    expect(render('{{.ID -}}   x')).toBe('abc123x\ndef456x\n');
  });

  it('prints a table under headers in docker words with the table prefix', () => {
    const out = render('table {{.ID}}\\t{{.DesiredState}}\\t{{lower .Replicas}}');
    const lines = out.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^ID\s+DESIRED STATE\s+REPLICAS$/);
    expect(lines[1]).toMatch(/^abc123\s+running\s+3\/3$/);
    expect(lines).toHaveLength(3);
    // An empty listing still has its header.
    expect(compileTemplate('table {{.ID}}', FIELDS).render([])).toMatch(/^ID\n$/);
  });

  it('names columns as docker does', () => {
    expect(['ID', 'NodeID', 'DesiredState', 'ManagerStatus', 'Name'].map(headerOf)).toEqual([
      'ID',
      'NODE ID',
      'DESIRED STATE',
      'MANAGER STATUS',
      'NAME',
    ]);
  });

  it('refuses an unknown field as bad usage, naming the known fields, before any row is printed', () => {
    const err = usageFailure('{{.Nmae}}');
    expect(err.reason).toBe('usage');
    expect(err.message).toContain('no field "Nmae"');
    expect(err.message).toContain('.ID .Name .DesiredState .Labels .Replicas');
  });

  it('refuses what the subset does not know rather than printing half of it', () => {
    expect(usageFailure('{{range .Labels}}x{{end}}').message).toMatch(/not a field or a known function/);
    expect(usageFailure('{{.Name').message).toContain('has no "}}"');
    expect(usageFailure('{{}}').message).toContain('empty');
    expect(usageFailure('{{json}}').message).toContain('json takes 1 argument');
    expect(usageFailure('{{.Nmae.First}}').message).toContain('no field "Nmae"');
    expect(usageFailure('{{index .Labels}}').message).toContain('index takes 2 argument');
    expect(usageFailure('{{lower "abc}}').message).toContain('unclosed quote');
  });

  describe('nested fields, as docker inspect templates use them', () => {
    const inspected = [
      {
        ID: 'svc1',
        Spec: {
          Name: 'web_web',
          Labels: { 'com.docker.stack.namespace': 'web' },
          Mode: { Replicated: { Replicas: 3 } },
          TaskTemplate: { ContainerSpec: { Image: 'nginx:1', Env: ['A=1', 'B=2'] } },
        },
      },
      { ID: 'svc2', Spec: { Name: 'web_cron', Labels: {}, Mode: { GlobalJob: {} }, TaskTemplate: {} } },
    ];
    const inspect = (format: string) => compileTemplate(format, ['ID', 'Spec', 'UpdateStatus']).render(inspected);

    it('reads a field of a field, and JSON of a nested object', () => {
      expect(inspect('{{.Spec.Name}}')).toBe('web_web\nweb_cron\n');
      expect(inspect('{{json .Spec.Mode}}')).toBe('{"Replicated":{"Replicas":3}}\n{"GlobalJob":{}}\n');
      expect(inspect('{{.Spec.Mode.Replicated.Replicas}}')).toBe('3\n\n');
      expect(inspect('{{join .Spec.TaskTemplate.ContainerSpec.Env ","}}')).toBe('A=1,B=2\n\n');
    });

    it('reads a map key with dots in it through index, and an absent part as nothing', () => {
      expect(inspect('{{index .Spec.Labels "com.docker.stack.namespace"}}')).toBe('web\n\n');
      expect(inspect('{{index .Spec.TaskTemplate.ContainerSpec.Env 1}}')).toBe('B=2\n\n');
      expect(inspect('[{{.UpdateStatus.State}}]')).toBe('[]\n[]\n');
    });

    it('refuses a field of a string or a list as bad usage, as Go refuses it', () => {
      let failure: unknown;
      try {
        inspect('{{.Spec.Name.First}}');
      } catch (err) {
        failure = err;
      }
      expect(failure).toBeInstanceOf(FlotillaError);
      expect((failure as FlotillaError).reason).toBe('usage');
      expect((failure as FlotillaError).message).toContain('.Spec.Name is a string: it has no field "First"');
      expect(() => inspect('{{.Spec.TaskTemplate.ContainerSpec.Env.First}}')).toThrow(/is a list/);
    });
  });
});
