import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { formatCompose } from './compose-output.js';
import { StackError } from './diagnostics.js';
import { loadStack, loadStackText } from './load.js';
import { toStackSpec } from './service-spec.js';
import { parseSecurityOpt } from './values/security-opt.js';

const dir = mkdtempSync(path.join(tmpdir(), 'secopt-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Loads a stack file written into the test's directory beside `files`. */
function load(yaml: string, files: Record<string, string> = {}) {
  for (const [name, text] of Object.entries(files)) writeFileSync(path.join(dir, name), text);
  const stackFile = path.join(dir, 'stack.yml');
  writeFileSync(stackFile, yaml);
  return loadStack({ files: [stackFile], envFile: false });
}

const errorOf = (fn: () => unknown) => {
  try {
    fn();
  } catch (err) {
    if (err instanceof StackError) return err.format();
    throw err;
  }
  throw new Error('no error');
};

const service = (opts: string) => `services:\n  app:\n    image: busybox\n    security_opt: ${opts}\n`;

describe('security_opt', () => {
  it('reads the forms Docker takes', () => {
    expect(parseSecurityOpt('seccomp=unconfined')).toMatchObject({ kind: 'seccomp', value: 'unconfined' });
    expect(parseSecurityOpt('seccomp:prof.json')).toMatchObject({ kind: 'seccomp', value: 'prof.json' });
    expect(parseSecurityOpt('no-new-privileges')).toMatchObject({ kind: 'no-new-privileges', value: true });
    expect(parseSecurityOpt('no-new-privileges:true')).toMatchObject({ value: true });
    expect(parseSecurityOpt('no-new-privileges=false')).toMatchObject({ value: false });
    expect(parseSecurityOpt('label=disable')).toMatchObject({ kind: 'ignored', name: 'label' });
  });

  it('defaults to the nodes seccomp profile, with setuid allowed, as Docker does', () => {
    const spec = toStackSpec(load('services:\n  app:\n    image: busybox\n').stack, 'st').services[0];
    expect(spec?.container?.seccompProfile).toBe('');
    expect(spec?.container?.noNewPrivileges).toBe(false);
  });

  it('sends a profile file with the spec, and says unconfined and no-new-privileges as asked', () => {
    const profile = JSON.stringify({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [] });
    const loaded = load(service('["seccomp=./prof.json", "no-new-privileges:true"]'), { 'prof.json': profile });
    const spec = toStackSpec(loaded.stack, 'st').services[0];
    expect(spec?.container?.seccompProfile).toBe(profile);
    expect(spec?.container?.noNewPrivileges).toBe(true);
    // stack config shows what was written, not the profile.
    const shown = formatCompose(loaded.stack, 'yaml');
    expect(shown).toContain('seccomp=./prof.json');
    expect(shown).not.toContain('SCMP_ACT_ALLOW');
    const unconfined = toStackSpec(load(service('["seccomp=unconfined"]')).stack, 'st').services[0];
    expect(unconfined?.container?.seccompProfile).toBe('unconfined');
  });

  it('refuses an unknown option, a missing profile and one that is not a profile, at their line and column', () => {
    expect(errorOf(() => load(service('["seccomp=unconfined", "selinux=off"]')))).toMatch(
      /stack\.yml:4:42.*unknown security option "selinux=off"/s,
    );
    expect(errorOf(() => load(service('["seccomp=nope.json"]')))).toMatch(
      /stack\.yml:4:20.*seccomp profile file "nope\.json" does not exist/s,
    );
    expect(errorOf(() => load(service('["seccomp=bad.json"]'), { 'bad.json': '{"syscalls": []}' }))).toMatch(
      /stack\.yml:4:20.*not a seccomp profile/s,
    );
    expect(errorOf(() => load(service('["no-new-privileges:maybe"]')))).toMatch(/takes true or false/);
  });

  it('warns of options it does not apply, where they are written', () => {
    const loaded = load(service('["label=disable", "apparmor=unconfined"]'));
    expect(loaded.warnings.map((w) => `${w.location?.line}:${w.location?.col} ${w.message}`)).toEqual([
      expect.stringMatching(/^4:20 ignored: SELinux labels/),
      expect.stringMatching(/^4:37 ignored: AppArmor profiles/),
    ]);
  });

  it('cannot read a profile file from a stack given as text (the control API reads no files)', () => {
    expect(errorOf(() => loadStackText(service('["seccomp=prof.json"]'), { file: '/stack.yml' }))).toMatch(
      /seccomp profile file "prof\.json" does not exist/,
    );
  });
});
