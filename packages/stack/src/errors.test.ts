import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { StackError } from './diagnostics.js';
import { LIMITS } from './limits.js';
import { loadStack, loadStackText } from './load.js';

const CASES = path.resolve(import.meta.dirname, '../test/errors');

/** Runs a case and returns what `flotilla stack validate` would print, with paths relative to the case folder. */
function run(name: string): string {
  const dir = path.join(CASES, name);
  const files = ['stack.yml', 'stack.override.yml'].map((f) => path.join(dir, f)).filter((f) => existsSync(f));
  try {
    const loaded = loadStack({ files, env: {}, envFile: false });
    return `no error; warnings:\n${loaded.warnings.map((w) => w.message).join('\n')}\n`;
  } catch (err) {
    if (!(err instanceof StackError)) throw err;
    const prefix = `${path.relative(process.cwd(), dir)}/`;
    return `${err.format().replaceAll(prefix, '')}\n`;
  }
}

describe('error messages (golden files)', () => {
  const names = readdirSync(CASES).filter((n) => existsSync(path.join(CASES, n, 'stack.yml')));

  it('covers every error class', () => {
    expect(names.length).toBeGreaterThanOrEqual(15);
  });

  it.each(names)('%s', (name) => {
    const actual = run(name);
    const golden = path.join(CASES, name, 'expected.txt');
    // Goldens are written once on purpose (FLOTILLA_UPDATE_GOLDEN=1) and reviewed; a run never writes them.
    if (process.env.FLOTILLA_UPDATE_GOLDEN === '1') writeFileSync(golden, actual);
    expect(actual).toBe(readFileSync(golden, 'utf8'));
    expect(actual).not.toMatch(/^no error/);
  });
});

describe('hostile input', () => {
  it('refuses files over the size limit without parsing them', () => {
    const big = `services:\n  web:\n    image: nginx\n    x-pad: "${'a'.repeat(LIMITS.maxFileBytes)}"\n`;
    const err = (() => {
      try {
        loadStackText(big);
      } catch (e) {
        return e as StackError;
      }
    })();
    expect(err).toBeInstanceOf(StackError);
    expect(err?.format()).toMatch(/stack files over 1048576 bytes \(1 MiB\) are refused/);
  });

  it('stops a billion-laughs file fast, in bounded memory', () => {
    const before = process.memoryUsage().heapUsed;
    const started = performance.now();
    const text = readFileSync(path.join(CASES, 'billion-laughs', 'stack.yml'), 'utf8');
    expect(() => loadStackText(text)).toThrow(StackError);
    expect(performance.now() - started).toBeLessThan(5_000);
    expect(process.memoryUsage().heapUsed - before).toBeLessThan(512 * 1024 * 1024);
  });

  it('reports every problem, not only the first', () => {
    const text = run('wrong-type');
    expect(text.trim().split('\n').length).toBeGreaterThanOrEqual(4);
  });
});
