import { writeFileSync } from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { StackError } from './diagnostics.js';
import { loadIn, project } from './temp-project.test-helpers.js';

/** Values of any shape for the keys that name other services, files and profiles. */
const anything = fc.letrec((tie) => ({
  node: fc.oneof(
    { depthSize: 'small' },
    fc.constantFrom('web', 'base', 'other.yml', 'sub/inc.yml', '../x.yml', '', '~/f', 'stack.yml', 'debug', '*'),
    fc.integer(),
    fc.boolean(),
    fc.constant(null),
    fc.array(tie('node'), { maxLength: 3 }),
    fc.dictionary(fc.constantFrom('service', 'file', 'path', 'project_directory', 'env_file', 'x'), tie('node'), {
      maxKeys: 3,
    }),
  ),
})).node;

describe('extends, include and profiles on any input', () => {
  it('give a stack or errors at their places, never a crash', () => {
    // Files to name: one that extends back into the stack, one that includes it (cycles), one with profiles.
    const dir = project({
      'other.yml':
        'services:\n  base:\n    image: a\n    extends: {file: stack.yml, service: web}\n  web: {image: b}\n',
      'sub/inc.yml': 'include: [../stack.yml]\nservices:\n  inc: {image: c, profiles: [debug]}\n',
    });
    fc.assert(
      fc.property(anything, anything, anything, anything, (extendsValue, includeValue, profiles, other) => {
        const text = stringify({
          include: includeValue,
          services: {
            web: { image: 'a', extends: extendsValue, profiles },
            base: { image: 'b', extends: other, depends_on: ['web'] },
          },
        });
        writeFileSync(path.join(dir, 'stack.yml'), text);
        try {
          loadIn(dir, ['stack.yml'], { profiles: ['debug'] });
        } catch (err) {
          expect(err).toBeInstanceOf(StackError);
          const errors = (err as StackError).diagnostics.filter((d) => d.severity === 'error');
          expect(errors.length).toBeGreaterThan(0);
          for (const d of errors) expect(d.location?.line).toBeGreaterThan(0);
        }
      }),
      { numRuns: 200 },
    );
  });
});
