import { StringDecoder } from 'node:string_decoder';

/** The longest line shipped whole: longer ones go out in pieces of this size (what the log sink keeps per entry). */
export const MAX_LINE_LENGTH = 16 * 1024;

/**
 * Turns a byte stream (a task's stdout or stderr) into whole lines without their newlines. A partial last line is
 * held until the rest arrives or `end()`; one that grows past `maxLength` characters is sent in pieces, so a task
 * that prints without newlines cannot make the agent hold an unbounded buffer.
 */
export class LineSplitter {
  // Decoding through a StringDecoder keeps a UTF-8 character split across two chunks in one piece.
  private readonly decoder = new StringDecoder('utf8');
  private partial = '';

  constructor(
    private readonly emit: (lines: string[]) => void,
    private readonly maxLength = MAX_LINE_LENGTH,
  ) {}

  write(chunk: Buffer | string): void {
    this.take(typeof chunk === 'string' ? chunk : this.decoder.write(chunk), false);
  }

  /** The stream ended: what is left is the last line, newline or not. */
  end(): void {
    this.take(this.decoder.end(), true);
  }

  private take(text: string, last: boolean): void {
    const lines: string[] = [];
    const all = this.partial + text;
    let from = 0;
    for (let at = all.indexOf('\n'); at !== -1; at = all.indexOf('\n', from)) {
      this.cut(all.slice(from, at), lines);
      from = at + 1;
    }
    let rest = all.slice(from);
    while (rest.length > this.maxLength) {
      lines.push(rest.slice(0, this.maxLength));
      rest = rest.slice(this.maxLength);
    }
    if (last && rest !== '') {
      lines.push(rest);
      rest = '';
    }
    this.partial = rest;
    if (lines.length > 0) this.emit(lines);
  }

  private cut(line: string, into: string[]): void {
    for (let from = 0; from < line.length; from += this.maxLength) into.push(line.slice(from, from + this.maxLength));
    if (line === '') into.push('');
  }
}
