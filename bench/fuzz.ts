// Fuzzes every input surface for a longer budget than `npm test` does: the control API and the agent protocol
// (a manager process on its own etcd), the DNS server, the registry client (against a hostile registry) and the
// stack file loader. Prints one JSON line per surface, then the `all` line last; exits 1 on any crash, hang or
// violation, with the findings on stderr.
// Run: npm run fuzz   (FUZZ_RUNS inputs per surface, default 2000; FUZZ_SECONDS caps each surface's time;
//      FUZZ_SEED to replay; FUZZ_SURFACES=dns-server,stack-files to run some)
import {
  type FuzzBudget,
  type FuzzResult,
  fuzzAgentProtocol,
  fuzzControlApi,
  fuzzDnsServer,
  fuzzLine,
  fuzzRegistryClient,
  fuzzStackFiles,
  totalOf,
} from '@flotilla/testing';
import { log } from './lib.js';

/** A FUZZ_* setting from the environment, read by name. */
const setting = (name: string): string | undefined => process.env[name];
const numeric = (name: string) => (setting(name) ? Number(setting(name)) : undefined);

const budget: FuzzBudget = {
  runs: numeric('FUZZ_RUNS') ?? 2_000,
  seconds: numeric('FUZZ_SECONDS'),
  seed: numeric('FUZZ_SEED'),
};
const surfaces: Record<string, (b: FuzzBudget) => FuzzResult | Promise<FuzzResult>> = {
  'control-api': fuzzControlApi,
  'agent-protocol': fuzzAgentProtocol,
  'dns-server': fuzzDnsServer,
  'registry-client': fuzzRegistryClient,
  'stack-files': fuzzStackFiles,
};
const chosen = setting('FUZZ_SURFACES')?.split(',') ?? Object.keys(surfaces);

const results: FuzzResult[] = [];
for (const name of chosen) {
  const fuzz = surfaces[name];
  if (!fuzz) {
    log(`unknown surface ${name}: one of ${Object.keys(surfaces).join(', ')}`);
    process.exit(2);
  }
  log(`fuzzing ${name}: up to ${budget.runs} inputs${budget.seconds ? ` or ${budget.seconds} s` : ''}`);
  const started = Date.now();
  // A surface whose run itself throws (its harness, or an exception that escaped it) counts as one crash.
  const result = await Promise.resolve()
    .then(() => fuzz(budget))
    .catch(
      (err: unknown): FuzzResult => ({
        surface: name,
        inputs: 0,
        accepted: 0,
        crashes: 1,
        hangs: 0,
        violations: 0,
        findings: [`crash: the run threw: ${err instanceof Error ? err.stack : String(err)}`],
        seed: budget.seed ?? 0,
      }),
    );
  for (const finding of result.findings) log(`  ${finding}`);
  log(`  ${result.inputs} inputs in ${Math.round((Date.now() - started) / 100) / 10} s`);
  results.push(result);
  process.stdout.write(`${fuzzLine(result)}\n`);
}
const all = totalOf(results);
process.stdout.write(`${fuzzLine(all)}\n`);
process.exit(all.crashes + all.hangs + all.violations > 0 ? 1 : 0);
