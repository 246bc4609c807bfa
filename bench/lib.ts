// Small helpers the benches share: progress on stderr (stdout is for the JSON lines), timing, percentiles, and
// tearing down what a bench started when it is interrupted.

export const log = (message: string) => process.stderr.write(`${message}\n`);

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Milliseconds as seconds with two decimals. */
export const seconds = (ms: number) => Math.round(ms / 10) / 100;

/** Nearest-rank percentile: with 10 values, p50 is the 5th smallest and p99 the largest. */
export const percentile = (xs: readonly number[], p: number) =>
  [...xs].sort((a, b) => a - b)[Math.max(0, Math.ceil((p / 100) * xs.length) - 1)] ?? Number.NaN;

/** An interrupted run (Ctrl-C, SIGTERM) still runs `cleanup`, then exits 130. */
export function cleanUpOnInterrupt(cleanup: () => Promise<void>): void {
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      log(`${signal}: tearing down`);
      void cleanup().finally(() => process.exit(130));
    });
  }
}
