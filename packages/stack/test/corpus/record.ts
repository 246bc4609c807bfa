// Re-records the expected output of every corpus case (or of the cases named) from what the loader gives today.
// Run from anywhere:  node --import tsx packages/stack/test/corpus/record.ts [CASE...]
// Then read `git diff packages/stack/test/corpus`: every change is a change in what `stack config` prints.
import { caseNames, record } from '../../src/corpus.test-helpers.js';

const wanted = process.argv.slice(2);
const all = caseNames();
const unknown = wanted.filter((name) => !all.includes(name));
if (unknown.length > 0) {
  console.error(`no such corpus case: ${unknown.join(', ')} (cases: ${all.join(', ')})`);
  process.exit(2);
}
for (const name of wanted.length > 0 ? wanted : all) {
  const output = record(name);
  const warnings = output['expected-warnings.txt'].split('\n').filter(Boolean).length;
  const what = output['expected.yml'] === undefined ? 'refused (expected-errors.txt)' : 'loads (expected.yml)';
  console.log(`${name}: ${what}, ${warnings} warning${warnings === 1 ? '' : 's'}`);
}
