import fc from 'fast-check';

/** What a generated gRPC service definition gives for one method (grpc-js `ServiceDefinition` entries). */
export interface MethodDefinition {
  path: string;
  requestStream: boolean;
  responseStream: boolean;
  requestSerialize: (value: never) => Buffer;
  requestDeserialize: (bytes: Buffer) => unknown;
}

type FieldKind = 'string' | 'number' | 'bigint' | 'boolean' | 'strings' | 'map' | 'message';

// --- wire format, written by hand so that inputs can break its rules on purpose ----------------------------------

function varint(value: bigint): number[] {
  const out: number[] = [];
  let v = BigInt.asUintN(64, value);
  do {
    const byte = Number(v & 0x7fn);
    v >>= 7n;
    out.push(v > 0n ? byte | 0x80 : byte);
  } while (v > 0n);
  return out;
}

const tag = (field: number, wireType: number) => varint((BigInt(field) << 3n) | BigInt(wireType));
const lengthDelimited = (field: number, body: Uint8Array) => [
  ...tag(field, 2),
  ...varint(BigInt(body.length)),
  ...body,
];

/** Bytes that are not UTF-8: lone continuation bytes, overlong forms, surrogates, truncated sequences. */
const invalidUtf8 = fc.constantFrom(
  [0x80],
  [0xc0, 0xaf],
  [0xed, 0xa0, 0x80],
  [0xf4, 0x90, 0x80, 0x80],
  [0xe2, 0x82],
  [0xff, 0xfe],
);

/** A field of any wire type with a random value; length-delimited ones nest another random message. */
const wireMessage: fc.Arbitrary<Uint8Array> = fc.letrec((tie) => ({
  message: fc
    .array(tie('field') as fc.Arbitrary<number[]>, { maxLength: 6, depthIdentifier: 'message' })
    .map((fields) => Uint8Array.from(fields.flat())),
  field: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc
      .tuple(fieldNumber(), fc.bigInt({ min: -(2n ** 63n), max: 2n ** 64n - 1n }))
      .map(([f, v]) => [...tag(f, 0), ...varint(v)]),
    fc.tuple(fieldNumber(), fc.uint8Array({ minLength: 8, maxLength: 8 })).map(([f, b]) => [...tag(f, 1), ...b]),
    fc.tuple(fieldNumber(), fc.uint8Array({ minLength: 4, maxLength: 4 })).map(([f, b]) => [...tag(f, 5), ...b]),
    fc.tuple(fieldNumber(), fc.string({ maxLength: 40 })).map(([f, s]) => lengthDelimited(f, Buffer.from(s))),
    fc.tuple(fieldNumber(), invalidUtf8).map(([f, b]) => lengthDelimited(f, Uint8Array.from(b))),
    fc.tuple(fieldNumber(), tie('message') as fc.Arbitrary<Uint8Array>).map(([f, m]) => lengthDelimited(f, m)),
  ),
})).message as fc.Arbitrary<Uint8Array>;

function fieldNumber(): fc.Arbitrary<number> {
  return fc.oneof(fc.integer({ min: 1, max: 12 }), fc.integer({ min: 1, max: 2 ** 29 - 1 }));
}

/** One field repeated tens of thousands of times (still under the 4 MiB message limit). */
const hugeRepeated = fc
  .tuple(fc.integer({ min: 1, max: 8 }), fc.integer({ min: 10_000, max: 100_000 }), fc.constantFrom(0, 2))
  .map(([field, count, wireType]) => {
    const one = wireType === 0 ? [...tag(field, 0), 1] : lengthDelimited(field, Buffer.from('x'));
    const out = new Uint8Array(one.length * count);
    for (let i = 0; i < count; i++) out.set(one, i * one.length);
    return out;
  });

/** Messages nested thousands deep, as length-delimited fields or as (deprecated) groups that decoders recurse into. */
const deepNesting = fc
  .tuple(fc.integer({ min: 1, max: 6 }), fc.integer({ min: 100, max: 20_000 }), fc.boolean())
  .map(([field, depth, groups]) => {
    if (groups) {
      const open = tag(field, 3);
      const close = tag(field, 4);
      const out: number[] = [];
      for (let i = 0; i < depth; i++) out.push(...open);
      for (let i = 0; i < depth; i++) out.push(...close);
      return Uint8Array.from(out);
    }
    let body: Uint8Array = new Uint8Array(0);
    for (let i = 0; i < Math.min(depth, 2_000); i++) body = Uint8Array.from(lengthDelimited(field, body));
    return body;
  });

/** Seed bytes broken in the ways a fuzzer breaks things: cut, flipped, spliced, lengths overstated. */
function mutated(seeds: readonly Uint8Array[]): fc.Arbitrary<Uint8Array> {
  const edit = fc.oneof(
    fc.record({ kind: fc.constant('cut' as const), at: fc.nat() }),
    fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bits: fc.integer({ min: 1, max: 255 }) }),
    fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), bytes: fc.uint8Array({ maxLength: 16 }) }),
    fc.record({ kind: fc.constant('repeat' as const), at: fc.nat(), length: fc.nat(64), times: fc.nat(200) }),
    fc.record({ kind: fc.constant('huge-length' as const), at: fc.nat() }),
  );
  return fc.tuple(fc.constantFrom(...seeds), fc.array(edit, { minLength: 1, maxLength: 4 })).map(([seed, edits]) => {
    let bytes = Buffer.from(seed);
    for (const e of edits) {
      const at = bytes.length === 0 ? 0 : e.at % (bytes.length + 1);
      if (e.kind === 'cut') bytes = bytes.subarray(0, at);
      else if (e.kind === 'flip' && at < bytes.length) bytes[at] = (bytes[at] as number) ^ e.bits;
      else if (e.kind === 'insert') bytes = Buffer.concat([bytes.subarray(0, at), e.bytes, bytes.subarray(at)]);
      else if (e.kind === 'repeat') {
        const part = bytes.subarray(at, at + e.length);
        bytes = Buffer.concat([bytes.subarray(0, at), ...Array<Buffer>(e.times).fill(part), bytes.subarray(at)]);
      } else if (e.kind === 'huge-length') {
        bytes = Buffer.concat([bytes.subarray(0, at), Uint8Array.from(varint(2n ** 32n - 1n)), bytes.subarray(at)]);
      }
    }
    return new Uint8Array(bytes);
  });
}

// --- messages of the method's own type, found by probing its (de)serializer -----------------------------------

/**
 * The top-level fields of a request type and what they hold, found from the generated code alone: the decoded
 * empty message names every field with its default, and encoding a probe value tells a message from a scalar.
 */
export function requestFields(method: MethodDefinition): Record<string, FieldKind> {
  const empty = method.requestDeserialize(Buffer.alloc(0)) as Record<string, unknown>;
  const fields: Record<string, FieldKind> = {};
  const encodes = (key: string, value: unknown) => {
    try {
      method.requestSerialize({ ...empty, [key]: value } as never);
      return true;
    } catch {
      return false;
    }
  };
  for (const [key, value] of Object.entries(empty)) {
    if (typeof value === 'string') fields[key] = 'string';
    else if (typeof value === 'number') fields[key] = 'number';
    else if (typeof value === 'bigint') fields[key] = 'bigint';
    else if (typeof value === 'boolean') fields[key] = 'boolean';
    else if (Array.isArray(value)) fields[key] = encodes(key, ['x']) ? 'strings' : 'message';
    else if (value && typeof value === 'object') fields[key] = 'map';
    else if (encodes(key, {})) fields[key] = 'message';
    else if (encodes(key, 'x')) fields[key] = 'string';
    else if (encodes(key, 1n)) fields[key] = 'bigint';
    else fields[key] = 'number';
  }
  return fields;
}

const text = fc.oneof(
  fc.string({ maxLength: 30 }),
  fc.constantFrom('', '..', '../../etc/passwd', '/', 'a'.repeat(70_000), '\u0000', 'web', 'x_y', 'FLTKN-1-x'),
  fc.string({ unit: 'binary', maxLength: 30 }),
);

function fieldValue(kind: FieldKind): fc.Arbitrary<unknown> {
  switch (kind) {
    case 'string':
      return text;
    case 'number':
      return fc.oneof(fc.integer(), fc.constantFrom(0, -1, 2 ** 31 - 1, 4_294_967_295, 1e9));
    case 'bigint':
      return fc.oneof(fc.bigInt({ min: 0n, max: 2n ** 63n - 1n }), fc.constantFrom(0n, 1n, 2n ** 63n - 1n, 10n ** 9n));
    case 'boolean':
      return fc.boolean();
    case 'strings':
      return fc.array(text, { maxLength: 5 });
    case 'map':
      return fc.dictionary(fc.string({ maxLength: 10 }), fc.string({ maxLength: 10 }), { maxKeys: 4 });
    case 'message':
      return fc.constant(undefined);
  }
}

/** Well-formed requests of the method's type with random, often hostile, field values. */
function wellFormed(method: MethodDefinition): fc.Arbitrary<Uint8Array> {
  const fields = requestFields(method);
  const record = Object.fromEntries(Object.entries(fields).map(([k, kind]) => [k, fieldValue(kind)]));
  return fc.record(record).map((value) => {
    const empty = method.requestDeserialize(Buffer.alloc(0)) as object;
    try {
      return new Uint8Array(method.requestSerialize({ ...empty, ...value } as never));
    } catch {
      return new Uint8Array(0);
    }
  });
}

/** Every leaf of a decoded message (scalars, and arrays as a whole), as a path of keys. */
function leafPaths(
  value: unknown,
  at: (string | number)[] = [],
  out: (string | number)[][] = [],
): (string | number)[][] {
  if (Array.isArray(value)) {
    out.push(at);
    value.forEach((v, i) => {
      leafPaths(v, [...at, i], out);
    });
  } else if (value && typeof value === 'object' && !(value instanceof Uint8Array)) {
    for (const [k, v] of Object.entries(value)) leafPaths(v, [...at, k], out);
  } else {
    out.push(at);
  }
  return out;
}

/** A hostile value of the same kind as `old`: extremes for numbers, odd strings, an array made huge or emptied. */
function hostileLike(old: unknown, pick: number): unknown {
  if (typeof old === 'bigint') return [0n, 1n, 2n ** 63n - 1n, 2n ** 32n, 10n ** 12n][pick % 5];
  if (typeof old === 'number') return [0, -1, 2 ** 31 - 1, 4_294_967_295, 65_536, 1e9][pick % 6];
  if (typeof old === 'boolean') return !old;
  if (typeof old === 'string')
    return ['', '..', '/', 'x'.repeat(100_000), '\u0000', '$(x)', '*', 'a b', old + old][pick % 9];
  if (Array.isArray(old)) return pick % 3 === 0 ? [] : Array<unknown>(pick % 3 === 1 ? 1_000 : 20).fill(old[0]);
  return old;
}

/**
 * Real requests decoded, a few leaves set to hostile values of their own kind, encoded again: well-formed messages
 * that reach the handlers' logic (huge replicas, ports out of range, names that are paths).
 */
function mutatedObjects(method: MethodDefinition, seeds: readonly Uint8Array[]): fc.Arbitrary<Uint8Array> {
  return fc
    .tuple(fc.constantFrom(...seeds), fc.array(fc.tuple(fc.nat(), fc.nat()), { minLength: 1, maxLength: 3 }))
    .map(([seed, edits]) => {
      const message = method.requestDeserialize(Buffer.from(seed)) as Record<string, unknown>;
      const leaves = leafPaths(message);
      for (const [which, pick] of edits) {
        const path = leaves[which % leaves.length] ?? [];
        const key = path.at(-1);
        if (key === undefined) continue;
        let parent: unknown = message;
        for (const k of path.slice(0, -1)) parent = (parent as Record<string | number, unknown> | undefined)?.[k];
        // An earlier edit may have replaced what held this leaf.
        if (!parent || typeof parent !== 'object') continue;
        const target = parent as Record<string | number, unknown>;
        target[key] = hostileLike(target[key], pick);
      }
      try {
        return new Uint8Array(method.requestSerialize(message as never));
      } catch {
        return seed;
      }
    });
}

/**
 * Request bytes for one method: well-formed requests with hostile values, seeds (real requests) mutated, random
 * protobuf, random bytes, huge repeated fields and deep nesting.
 */
export function requestBytes(method: MethodDefinition, seeds: readonly Uint8Array[] = []): fc.Arbitrary<Uint8Array> {
  const own = [new Uint8Array(0), ...seeds];
  return fc.oneof(
    ...(seeds.length > 0 ? [{ arbitrary: mutatedObjects(method, seeds), weight: 4 }] : []),
    { arbitrary: wellFormed(method), weight: 4 },
    { arbitrary: mutated(own), weight: 4 },
    { arbitrary: wireMessage, weight: 3 },
    { arbitrary: fc.uint8Array({ maxLength: 512 }), weight: 2 },
    { arbitrary: hugeRepeated, weight: 1 },
    { arbitrary: deepNesting, weight: 1 },
  );
}

export { mutated as mutatedBytes };
