import { closest, distance } from 'fastest-levenshtein';
import * as z from 'zod';
import { ValueError } from '../values/value-error.js';

/** Issue params that tell the diagnostics mapper what kind of problem a custom issue is. */
export interface IssueParams {
  flotilla: 'unknown-key' | 'invalid-value' | 'undefined-reference';
}

/** A did-you-mean suggestion when a close enough candidate exists. */
export function suggest(word: string, candidates: readonly string[]): string {
  if (candidates.length === 0) return '';
  const best = closest(word, candidates as string[]);
  const limit = Math.max(2, Math.floor(word.length / 3));
  return distance(word, best) <= limit ? ` (did you mean "${best}"?)` : '';
}

/** `x-` keys a mapping keeps as written (Compose keeps them on top-level networks, volumes, configs, secrets). */
export type Extensions = { [key: `x-${string}`]: unknown };

/**
 * A mapping with a fixed set of keys. Unknown keys are each reported at the key, with a suggestion, without
 * hiding the other problems of the same mapping; `x-` extension keys are allowed and dropped.
 */
export function strictObject<T extends z.ZodRawShape>(shape: T) {
  return strictObjectOf(shape, false);
}

/** strictObject that keeps its `x-` keys, as written, in its output. */
export function strictObjectWithExtensions<T extends z.ZodRawShape>(shape: T) {
  return strictObjectOf(shape, true).transform((v) => v as typeof v & Extensions);
}

function strictObjectOf<T extends z.ZodRawShape>(shape: T, keepExtensions: boolean) {
  const known = Object.keys(shape);
  return z
    .looseObject(shape)
    .check(
      z.superRefine(
        (value, ctx) => {
          if (typeof value !== 'object' || value === null) return;
          for (const key of Object.keys(value)) {
            if (known.includes(key) || key.startsWith('x-')) continue;
            ctx.addIssue({
              code: 'custom',
              path: [key],
              message: `unknown key "${key}"${suggest(key, known)}`,
              params: { flotilla: 'unknown-key' } satisfies IssueParams,
            });
          }
        },
        { when: () => true },
      ),
    )
    .transform((value) => {
      const out: Record<string, unknown> = {};
      for (const key of known) if ((value as Record<string, unknown>)[key] !== undefined) out[key] = value[key];
      if (keepExtensions) {
        for (const [key, v] of Object.entries(value)) if (key.startsWith('x-')) out[key] = v;
      }
      return out as z.output<z.ZodObject<T>>;
    });
}

/** A value checked by one of the stack value parsers, whose ValueError becomes an issue at the value. */
export function parsed<T>(parse: (input: string | number) => T) {
  return z.union([z.string(), z.number()]).transform((input, ctx): T => {
    try {
      return parse(input);
    } catch (err) {
      if (!(err instanceof ValueError)) throw err;
      ctx.addIssue({ code: 'custom', message: err.message, params: { flotilla: 'invalid-value' } });
      return z.NEVER;
    }
  });
}

/** A whole number, also when interpolation made it a string (`replicas: ${REPLICAS}`). */
export function int(min: number, max: number = Number.MAX_SAFE_INTEGER) {
  return z.union([z.number(), z.string()]).transform((input, ctx): number => {
    const n = typeof input === 'number' ? input : /^\s*-?\d+\s*$/.test(input) ? Number(input) : Number.NaN;
    const fail = (message: string) => {
      ctx.addIssue({ code: 'custom', message, params: { flotilla: 'invalid-value' } });
      return z.NEVER;
    };
    if (!Number.isInteger(n)) return fail(`expected a whole number, got ${JSON.stringify(input)}`);
    if (n < min) return fail(`${n} is out of range: must be at least ${min}`);
    if (n > max) return fail(`${n} is out of range: must be at most ${max}`);
    return n;
  });
}

/** A decimal number, also from a string. */
export function decimal(min: number, max: number) {
  return z.union([z.number(), z.string()]).transform((input, ctx): number => {
    const n = typeof input === 'number' ? input : /^\s*-?\d+(\.\d+)?\s*$/.test(input) ? Number(input) : Number.NaN;
    if (!Number.isFinite(n) || n < min || n > max) {
      ctx.addIssue({
        code: 'custom',
        message: `expected a number from ${min} to ${max}, got ${JSON.stringify(input)}`,
        params: { flotilla: 'invalid-value' },
      });
      return z.NEVER;
    }
    return n;
  });
}

/** true/false, also as the strings interpolation produces. */
export const bool = z
  .union([z.boolean(), z.enum(['true', 'false', 'True', 'False', 'TRUE', 'FALSE'])])
  .transform((v) => v === true || (typeof v === 'string' && v.toLowerCase() === 'true'));

/** A string; numbers are taken as written (`user: 1000`). */
export const text = z.union([z.string(), z.number()]).transform((v) => String(v));

/** A list of strings, or one string taken as a one-item list. */
export const stringOrList = z.union([text.transform((v) => [v]), z.array(text)]);

/** A closed set of words, with a suggestion when a near miss is written. */
export function oneOf<const T extends readonly string[]>(values: T) {
  return z.string().transform((input, ctx): T[number] => {
    if ((values as readonly string[]).includes(input)) return input as T[number];
    ctx.addIssue({
      code: 'custom',
      message: `"${input}" is not one of ${values.join(', ')}${suggest(input, values)}`,
      params: { flotilla: 'invalid-value' },
    });
    return z.NEVER;
  });
}

const scalarValue = z.union([z.string(), z.number(), z.boolean(), z.null()]);

/**
 * `KEY=VALUE` lists and `{KEY: VALUE}` maps (environment, labels, sysctls) as one map. A list entry without `=`
 * or a null map value means "no value here" (environment takes it from the shell, as Compose does).
 */
export const keyValues = z
  .union([z.array(z.union([z.string(), z.number()])), z.record(z.string(), scalarValue)])
  .transform((input): Record<string, string | null> => {
    const out: Record<string, string | null> = {};
    if (Array.isArray(input)) {
      for (const item of input) {
        const entry = String(item);
        const eq = entry.indexOf('=');
        if (eq < 0) out[entry] = null;
        else out[entry.slice(0, eq)] = entry.slice(eq + 1);
      }
    } else {
      for (const [key, value] of Object.entries(input)) out[key] = value === null ? null : String(value);
    }
    return out;
  });

/** A map of names to settings where a bare list of names is also allowed (service networks). */
export function namedMap<T extends z.ZodType>(value: T) {
  return z.union([
    z.array(z.string()).transform((names) => Object.fromEntries(names.map((n) => [n, null])) as Record<string, null>),
    z.record(z.string(), value.nullable()),
  ]);
}
