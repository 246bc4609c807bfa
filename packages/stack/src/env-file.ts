import { parse } from 'dotenv';
import { interpolateString, type Lookup } from './interpolate.js';

/**
 * Reads the KEY=VALUE lines of a `.env` or `env_file` file (quotes, comments and multi-line values as dotenv
 * reads them). Values may use variables set earlier in the same file or in `outer`, as Compose allows.
 */
export function parseEnvFile(text: string, outer: Lookup = () => undefined): Map<string, string> {
  const raw = parse(text);
  const out = new Map<string, string>();
  const lookup: Lookup = (name) => out.get(name) ?? outer(name);
  for (const [key, value] of Object.entries(raw)) {
    // A value that cannot be interpolated is kept as written rather than failing the whole file.
    const expanded = value.includes('$') ? interpolateString(value, lookup) : undefined;
    out.set(key, expanded && expanded.errors.length === 0 ? expanded.value : value);
  }
  return out;
}
