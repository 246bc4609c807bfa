// Parse, validate and normalize a generated 500-service stack. Prints one JSON line of figures last.
// Run: npm run bench -- stack
import { loadStackText } from '@flotilla/stack';
import { generateStackYaml } from '@flotilla/testing';

const SERVICES = 500;
const RUNS = 21;

const text = generateStackYaml(SERVICES);
const env = { TAG: '2.0' };

const time = () => {
  const started = performance.now();
  const loaded = loadStackText(text, { env });
  const ms = performance.now() - started;
  if (Object.keys(loaded.stack.services).length !== SERVICES) throw new Error('the generated stack lost services');
  return ms;
};

const coldMs = time();
const samples = Array.from({ length: RUNS }, time).sort((a, b) => a - b);
const median = samples[Math.floor(samples.length / 2)] as number;
const round = (n: number) => Math.round(n * 10) / 10;

console.log(
  JSON.stringify({
    bench: 'stack',
    services: SERVICES,
    ms: round(median),
    cold_ms: round(coldMs),
    min_ms: round(samples[0] as number),
    max_ms: round(samples.at(-1) as number),
    runs: RUNS,
    bytes: Buffer.byteLength(text),
  }),
);
