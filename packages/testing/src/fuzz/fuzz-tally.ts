import fc from 'fast-check';

/** How one surface's run went: the figures `npm run fuzz` prints, and what went wrong, in words. */
export interface FuzzResult {
  surface: string;
  inputs: number;
  /** Inputs the surface took as good (a call answered OK, a packet answered, an image pulled, a stack loaded). */
  accepted: number;
  /** An exception escaped, the process died, or the server stopped answering. */
  crashes: number;
  /** No answer (or refusal) within the deadline. */
  hangs: number;
  /** Answered, but against a property: a wrong kind of error, leaked internals, a write outside the target. */
  violations: number;
  /** The first few failures, each with the input that caused it, to reproduce with the same seed. */
  findings: string[];
  seed: number;
}

/** How long and how hard a surface is fuzzed: at most `runs` inputs, and no longer than `seconds` when given. */
export interface FuzzBudget {
  runs: number;
  seconds?: number;
  seed?: number;
}

const KEPT_FINDINGS = 10;

/** Counts outcomes of one surface's inputs; keeps the first findings in full. */
export class FuzzTally {
  private readonly result: FuzzResult;
  private readonly started = Date.now();

  constructor(
    surface: string,
    private readonly budget: FuzzBudget,
  ) {
    this.result = {
      surface,
      inputs: 0,
      accepted: 0,
      crashes: 0,
      hangs: 0,
      violations: 0,
      findings: [],
      seed: budget.seed ?? Date.now() % 2 ** 31,
    };
  }

  get seed(): number {
    return this.result.seed;
  }

  /** Whether more inputs fit in the budget. */
  more(): boolean {
    if (this.result.inputs >= this.budget.runs) return false;
    return this.budget.seconds === undefined || Date.now() - this.started < this.budget.seconds * 1000;
  }

  input(): void {
    this.result.inputs++;
  }

  accept(): void {
    this.result.accepted++;
  }

  crash(what: string, input?: unknown): void {
    this.result.crashes++;
    this.note('crash', what, input);
  }

  hang(what: string, input?: unknown): void {
    this.result.hangs++;
    this.note('hang', what, input);
  }

  violation(what: string, input?: unknown): void {
    this.result.violations++;
    this.note('violation', what, input);
  }

  done(): FuzzResult {
    return { ...this.result, findings: [...this.result.findings] };
  }

  private note(kind: string, what: string, input: unknown): void {
    if (this.result.findings.length >= KEPT_FINDINGS) return;
    const shown = input === undefined ? '' : ` (input: ${describeInput(input)})`;
    this.result.findings.push(`${kind}: ${what}${shown}`);
  }
}

/** Inputs from `arbitrary`, drawn in chunks so that a long run does not hold them all; the same seed, the same inputs. */
export function* inputs<T>(arbitrary: fc.Arbitrary<T>, tally: FuzzTally): Generator<T> {
  for (let chunk = 0; tally.more(); chunk++) {
    for (const value of fc.sample(arbitrary, { seed: tally.seed + chunk, numRuns: 50 })) {
      if (!tally.more()) return;
      yield value;
    }
  }
}

/** Resolves with the promise's value, or with `timedOut` once `ms` passed first. */
export function within<T, U>(promise: Promise<T>, ms: number, timedOut: U): Promise<T | U> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<U>((resolve) => {
    timer = setTimeout(() => resolve(timedOut), ms);
  });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

/** Sums per-surface results into the `all` line. */
export function totalOf(results: readonly FuzzResult[]): FuzzResult {
  return {
    surface: 'all',
    inputs: results.reduce((n, r) => n + r.inputs, 0),
    accepted: results.reduce((n, r) => n + r.accepted, 0),
    crashes: results.reduce((n, r) => n + r.crashes, 0),
    hangs: results.reduce((n, r) => n + r.hangs, 0),
    violations: results.reduce((n, r) => n + r.violations, 0),
    findings: results.flatMap((r) => r.findings.map((f) => `${r.surface}: ${f}`)),
    seed: results[0]?.seed ?? 0,
  };
}

/** The JSON line `npm run fuzz` prints for a result. */
export function fuzzLine(result: FuzzResult): string {
  const { surface, inputs: n, accepted, crashes, hangs, violations } = result;
  return JSON.stringify({ fuzz: surface, inputs: n, crashes, hangs, violations, accepted, seed: result.seed });
}

/** A printable form of an input: bytes as hex (cut at 4 KiB), anything else as JSON (cut). */
function describeInput(input: unknown): string {
  const hex = (b: Uint8Array) => `${b.length} bytes ${Buffer.from(b.subarray(0, 4096)).toString('hex')}`;
  const text =
    input instanceof Uint8Array
      ? hex(input)
      : JSON.stringify(input, (_k, v) => (typeof v === 'bigint' ? v.toString() : v instanceof Uint8Array ? hex(v) : v));
  return text.length > 9_000 ? `${text.slice(0, 9_000)}…` : text;
}
