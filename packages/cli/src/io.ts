/** Where a command writes; tests pass their own to capture output without spawning a process. */
export interface Io {
  out(text: string): void;
  err(text: string): void;
  env: Record<string, string | undefined>;
  /** Standard input, read to its end (`secret create NAME -`); at most `limit` bytes and one more are read. */
  stdin?: (limit: number) => Promise<Buffer>;
}

/** Reads a stream to its end, or until it has given more than `limit` bytes (the rest is not wanted). */
export async function readLimited(stream: AsyncIterable<Buffer | string>, limit: number): Promise<Buffer> {
  const parts: Buffer[] = [];
  let length = 0;
  for await (const chunk of stream) {
    const part = Buffer.from(chunk);
    parts.push(part);
    length += part.length;
    if (length > limit) break;
  }
  return Buffer.concat(parts);
}

export const processIo: Io = {
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
  env: process.env,
  stdin: (limit) => readLimited(process.stdin, limit),
};
