import type { Logger } from '@flotilla/observability';
import type { Informer, Store } from '@flotilla/store';
import { collectableFileObjects, FileObjectUse } from './file-references.js';

export interface FileCollectorOptions {
  services: Informer<'services'>;
  tasks: Informer<'tasks'>;
  log: Logger;
  /** A pass this often, and soon after services change. */
  everyMs?: number;
  /** See CollectOptions.minAgeMs. */
  minAgeMs?: number;
}

/**
 * The leader's removal of a stack's versions of secrets and configs that nothing uses any more (see
 * collectableFileObjects), through its fenced store: a deposed leader removes nothing. Each version is removed
 * only as it was read, so one a deploy took up meanwhile stays.
 */
export class FileObjectCollector {
  private timer: NodeJS.Timeout | undefined;
  private soon: NodeJS.Timeout | undefined;
  private running: Promise<number> | undefined;
  private unsubscribe: (() => void) | undefined;

  constructor(
    private readonly fenced: Store,
    private readonly options: FileCollectorOptions,
  ) {}

  start(): void {
    this.timer = setInterval(() => void this.collect(), this.options.everyMs ?? 10_000);
    // A stack removed or updated: its old versions go within a second, not a whole period later.
    this.unsubscribe = this.options.services.subscribe(() => {
      this.soon ??= setTimeout(() => {
        this.soon = undefined;
        void this.collect();
      }, 1_000);
    });
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    clearTimeout(this.soon);
    this.unsubscribe?.();
    await this.running;
  }

  /** One pass (one at a time): how many versions it removed; a failure is logged, and the next pass tries again. */
  collect(): Promise<number> {
    this.running ??= this.pass()
      .catch((err: unknown) => {
        this.options.log.warn({ err: (err as Error).message }, 'removing unused secret and config versions failed');
        return 0;
      })
      .finally(() => {
        this.running = undefined;
      });
    return this.running;
  }

  private async pass(): Promise<number> {
    const files = (await this.fenced.list('files')).items;
    if (files.length === 0) return 0;
    const services = this.options.services.list().map((s) => s.value);
    const use = new FileObjectUse(
      services,
      this.options.tasks.list().map((t) => t.value),
    );
    const gone = collectableFileObjects(
      files.map((f) => f.value),
      services,
      use,
      { nowMs: Date.now(), minAgeMs: this.options.minAgeMs ?? 60_000 },
    );
    if (gone.length === 0) return 0;
    const versions = new Map(files.map((f) => [f.id, f.version]));
    await this.fenced.batch(
      gone.map((f) => ({ op: 'delete', kind: 'files', id: f.id, version: versions.get(f.id) as bigint })),
    );
    // Names and versions only: never content.
    this.options.log.info(
      { removed: gone.map((f) => `${f.name}@${f.version}`) },
      'removed secret and config versions no longer used',
    );
    return gone.length;
  }
}
