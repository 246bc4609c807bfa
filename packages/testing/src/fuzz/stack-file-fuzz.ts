import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { loadStackText, StackError } from '@flotilla/stack';
import fc from 'fast-check';
import { stringify } from 'yaml';
import { type FuzzBudget, type FuzzResult, FuzzTally, inputs } from './fuzz-tally.js';

/** The stack package's fixtures: real Compose files of well-known applications (packages/{testing,stack}/…). */
const FIXTURES = path.resolve(import.meta.dirname, '../../../stack/test/fixtures');

/** The text of every fixture stack file, the seeds mutated below and the control API's deploy seeds. */
export function stackSamples(): string[] {
  return readdirSync(FIXTURES, { withFileTypes: true })
    .filter((d) => d.isDirectory())
    .map((d) => readFileSync(path.join(FIXTURES, d.name, 'stack.yml'), 'utf8'));
}

/** YAML values of any shape, with keys a stack file has now and then. */
const yamlValue = fc.letrec((tie) => ({
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

/** Stack-shaped documents whose values are random. */
function stackShaped(): fc.Arbitrary<unknown> {
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
      security_opt: fc.array(scalar),
    },
    { requiredKeys: [] },
  );
  return fc.record({ services: fc.dictionary(fc.string({ minLength: 1 }), service, { maxKeys: 3 }) });
}

/** Fixture files with a few bytes cut and inserted. */
function mutatedSamples(samples: readonly string[]): fc.Arbitrary<string> {
  const edit = fc.record({ at: fc.nat(), cut: fc.nat(8), insert: fc.string({ maxLength: 6 }) });
  return fc
    .tuple(fc.constantFrom(...samples), fc.array(edit, { minLength: 1, maxLength: 4 }))
    .map(([sample, edits]) => {
      let text = sample;
      for (const { at, cut, insert } of edits) {
        const i = at % (text.length + 1);
        text = text.slice(0, i) + insert + text.slice(i + cut);
      }
      return text;
    });
}

/** Hostile YAML: aliases that expand exponentially (a "billion laughs"), deep nesting, huge scalars. */
const hostileYaml = fc.oneof(
  fc.integer({ min: 2, max: 30 }).map((levels) => {
    const lines = ['x-a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]'];
    for (let i = 1; i < levels; i++)
      lines.push(
        `x-a${i}: &a${i} [${Array(9)
          .fill(`*a${i - 1}`)
          .join(', ')}]`,
      );
    return `${lines.join('\n')}\nservices:\n  web:\n    image: nginx\n    labels: *a${levels - 1}\n`;
  }),
  fc.integer({ min: 10, max: 1_000 }).map((depth) => `services: ${'['.repeat(depth)}${']'.repeat(depth)}\n`),
  fc.integer({ min: 1, max: 200_000 }).map((n) => `services:\n  web:\n    image: ${'a'.repeat(n)}\n`),
);

/** Any input for the loader: random text, random YAML, stack-shaped documents, mutated fixtures, hostile YAML. */
export function stackFileInputs(samples: readonly string[] = stackSamples()): fc.Arbitrary<string> {
  return fc.oneof(
    fc.string({ maxLength: 400 }),
    yamlValue.map((v) => stringify(v)),
    stackShaped().map((v) => stringify(v)),
    { arbitrary: mutatedSamples(samples), weight: 3 },
    hostileYaml,
  );
}

/**
 * Loads each input as a stack file: every input gives a stack or a StackError with at least one located error,
 * within a second. Anything else thrown is a crash.
 */
export function fuzzStackFiles(budget: FuzzBudget): FuzzResult {
  const tally = new FuzzTally('stack-files', budget);
  for (const text of inputs(stackFileInputs(), tally)) {
    tally.input();
    const started = Date.now();
    try {
      loadStackText(text, { env: { TAG: '1' } });
      tally.accept();
    } catch (err) {
      if (!(err instanceof StackError)) {
        tally.crash(`${err instanceof Error ? err.stack : String(err)}`.slice(0, 500), text.slice(0, 300));
      } else if (!err.diagnostics.some((d) => d.severity === 'error')) {
        tally.violation('a StackError without an error diagnostic', text.slice(0, 300));
      }
    }
    // The loader is synchronous: a slow input is a hang only after the fact, but it is counted all the same.
    if (Date.now() - started > 2_000) tally.hang(`took ${Date.now() - started} ms`, text.slice(0, 300));
  }
  return tally.done();
}
