import type { LogEntry, ServiceLogsRequest, ServiceLogsResponse } from '@flotilla/api';
import type { ServerWritableStream } from '@grpc/grpc-js';

// One message holds up to this many lines or bytes: lines are at most 16 KiB, so a message stays far below the
// 4 MiB clients accept by default.
const BATCH_LINES = 500;
const BATCH_BYTES = 256 * 1024;
// Followed lines wait this long for company before they are sent: one message per burst, not one per line.
const FOLLOW_FLUSH_MS = 20;

/** Sends entries in batches, waiting while the caller reads slower than the logs come (gRPC flow control). */
export class EntryWriter {
  private batch: LogEntry[] = [];
  private bytes = 0;
  private sending: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly call: ServerWritableStream<ServiceLogsRequest, ServiceLogsResponse>,
    private readonly signal: AbortSignal,
  ) {
    signal.addEventListener('abort', () => clearTimeout(this.timer), { once: true });
  }

  async add(entry: LogEntry): Promise<void> {
    this.batch.push(entry);
    this.bytes += entry.line.length + 64;
    if (this.batch.length >= BATCH_LINES || this.bytes >= BATCH_BYTES) await this.flush();
  }

  /** Sends what is waiting soon, with whatever else arrives meanwhile. */
  soon(): void {
    if (this.timer || this.signal.aborted) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      // A send fails only when the call is gone: the session ends through its signal, with no one left to tell.
      this.flush().catch(() => undefined);
    }, FOLLOW_FLUSH_MS);
  }

  async flush(): Promise<void> {
    while (this.sending) await this.sending;
    if (this.batch.length === 0 || this.signal.aborted) return;
    const entries = this.batch;
    this.batch = [];
    this.bytes = 0;
    this.sending = this.send(entries).finally(() => {
      this.sending = undefined;
    });
    await this.sending;
  }

  private send(entries: LogEntry[]): Promise<void> {
    if (this.call.write({ entries })) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        this.call.off('drain', done);
        this.signal.removeEventListener('abort', done);
        resolve();
      };
      this.call.once('drain', done);
      this.signal.addEventListener('abort', done, { once: true });
    });
  }
}
