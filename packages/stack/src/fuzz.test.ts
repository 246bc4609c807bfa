import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { StackError } from './diagnostics.js';
import { loadStackText } from './load.js';

const FIXTURES = path.resolve(import.meta.dirname, '../test/fixtures');
const SAMPLES = readdirSync(FIXTURES, { withFileTypes: true })
  .filter((d) => d.isDirectory())
  .map((d) => readFileSync(path.join(FIXTURES, d.name, 'stack.yml'), 'utf8'));

/** Every input gives a stack or a StackError with at least one located error, never another exception. */
function outcome(text: string): 'stack' | 'errors' {
  try {
    loadStackText(text, { env: { TAG: '1' } });
    return 'stack';
  } catch (err) {
    if (!(err instanceof StackError)) throw err;
    expect(err.diagnostics.some((d) => d.severity === 'error')).toBe(true);
    return 'errors';
  }
}

describe('no input crashes the parser', () => {
  it('arbitrary text', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 400 }), (text) => void outcome(text)),
      { numRuns: 400 },
    );
  });

  it('arbitrary YAML documents', () => {
    const value = fc.letrec((tie) => ({
      node: fc.oneof(
        { depthSize: 'small' },
        fc.string(),
        fc.integer(),
        fc.double(),
        fc.boolean(),
        fc.constant(null),
        fc.array(tie('node'), { maxLength: 4 }),
        fc.dictionary(
          fc.oneof(fc.string(), fc.constantFrom('services', 'image', 'deploy', 'ports', 'networks', 'x-a')),
          tie('node'),
          { maxKeys: 4 },
        ),
      ),
    })).node;
    fc.assert(
      fc.property(value, (v) => void outcome(stringify(v))),
      { numRuns: 400 },
    );
  });

  it('stack-shaped documents with random values', () => {
    const scalar = fc.oneof(fc.string(), fc.integer({ min: -100000, max: 100000 }), fc.boolean(), fc.constant(null));
    const service = fc.record(
      {
        image: fc.oneof(fc.constantFrom('nginx', 'redis:7', 'a/b@sha256:x'), fc.string()),
        ports: fc.array(fc.oneof(scalar, fc.record({ target: scalar, published: scalar, mode: scalar }))),
        deploy: fc.record({ replicas: scalar, mode: scalar, placement: fc.record({ constraints: fc.array(scalar) }) }),
        environment: fc.oneof(fc.array(scalar), fc.dictionary(fc.string(), scalar)),
        volumes: fc.array(scalar),
        healthcheck: fc.record({ test: fc.oneof(scalar, fc.array(scalar)), interval: scalar }),
        depends_on: fc.oneof(fc.array(scalar), fc.dictionary(fc.string(), fc.record({ condition: scalar }))),
      },
      { requiredKeys: [] },
    );
    const stack = fc.record({ services: fc.dictionary(fc.string({ minLength: 1 }), service, { maxKeys: 3 }) });
    fc.assert(
      fc.property(stack, (s) => void outcome(stringify(s))),
      { numRuns: 300 },
    );
  });

  it('mutated real stack files', () => {
    const mutation = fc.record({
      sample: fc.nat(SAMPLES.length - 1),
      edits: fc.array(fc.record({ at: fc.nat(), cut: fc.nat(8), insert: fc.string({ maxLength: 6 }) }), {
        minLength: 1,
        maxLength: 4,
      }),
    });
    fc.assert(
      fc.property(mutation, ({ sample, edits }) => {
        let text = SAMPLES[sample] as string;
        for (const { at, cut, insert } of edits) {
          const i = at % (text.length + 1);
          text = text.slice(0, i) + insert + text.slice(i + cut);
        }
        outcome(text);
      }),
      { numRuns: 300 },
    );
  });
});
