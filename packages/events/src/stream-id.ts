import { Code, FlotillaError } from '@flotilla/api';

const MAX_SEQ = 18_446_744_073_709_551_615n; // 2^64 - 1, the largest sequence part Redis accepts
const ID = /^(\d+)(?:-(\d+))?$/;

/** Checks a concrete stream ID (`ms` or `ms-seq`) and returns it in full `ms-seq` form. */
export function parseStreamId(id: string): string {
  const match = ID.exec(id);
  if (!match) {
    throw new FlotillaError(
      Code.InvalidArgument,
      `${JSON.stringify(id)} is not a stream ID: expected ms-seq, e.g. 0-0`,
      { reason: 'invalid-argument' },
    );
  }
  return `${BigInt(match[1] as string)}-${BigInt(match[2] ?? '0')}`;
}

/** The ID just before `id`, so that reading "after" it includes `id` itself (XREAD has no inclusive form). */
export function previousStreamId(id: string): string {
  const [ms, seq] = parseStreamId(id).split('-').map(BigInt) as [bigint, bigint];
  if (seq > 0n) return `${ms}-${seq - 1n}`;
  if (ms > 0n) return `${ms - 1n}-${MAX_SEQ}`;
  return '0-0';
}

/** Orders two concrete stream IDs like Redis does. */
export function compareStreamIds(a: string, b: string): number {
  const [am, as] = parseStreamId(a).split('-').map(BigInt) as [bigint, bigint];
  const [bm, bs] = parseStreamId(b).split('-').map(BigInt) as [bigint, bigint];
  if (am !== bm) return am < bm ? -1 : 1;
  if (as !== bs) return as < bs ? -1 : 1;
  return 0;
}

/** The milliseconds part of a stream ID: when Redis stored the entry. */
export function streamIdTime(id: string): number {
  return Number(parseStreamId(id).split('-')[0]);
}
