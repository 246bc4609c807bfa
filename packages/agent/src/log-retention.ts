/** Longest line the node keeps (the log sink cuts longer ones), so a cut line counts what is kept of it. */
const KEPT_LINE_CHARS = 16_384;
/** The node keeps no more lines of a task than this (the log sink's own cap): older sizes need not be tracked. */
const MAX_TRACKED = 10_000;

/**
 * The newest lines of one task that fit in its logging driver's byte cap (json-file/local `max-size` ×
 * `max-file`): `add` counts each line (its UTF-8 bytes and a newline, as a log file holds it) and says how many
 * of the newest lines the task's stream may keep. Until the cap has been reached once it says nothing, so lines
 * kept before an agent restart are not trimmed for want of their sizes.
 */
export class ByteWindow {
  private readonly sizes: number[] = [];
  private head = 0;
  private total = 0;
  private full = false;

  constructor(readonly maxBytes: number) {}

  /** Lines the stream may keep once these are appended, or undefined while under the cap. */
  add(lines: readonly string[]): number | undefined {
    for (const line of lines) {
      const size = Buffer.byteLength(line.length > KEPT_LINE_CHARS ? line.slice(0, KEPT_LINE_CHARS) : line) + 1;
      this.sizes.push(size);
      this.total += size;
    }
    // The newest line always stays, even alone over the cap (a json-file log holds at least the line it wrote).
    while (this.total > this.maxBytes && this.sizes.length - this.head > 1) {
      this.total -= this.sizes[this.head] as number;
      this.head++;
      this.full = true;
    }
    while (this.sizes.length - this.head > MAX_TRACKED) {
      this.total -= this.sizes[this.head] as number;
      this.head++;
    }
    if (this.head > 1024 && this.head * 2 > this.sizes.length) {
      this.sizes.splice(0, this.head);
      this.head = 0;
    }
    return this.full ? this.sizes.length - this.head : undefined;
  }

  /** Bytes of the lines the stream keeps now (as far as this window has seen them). */
  get bytes(): number {
    return this.total;
  }
}
