import { Option } from '@commander-js/extra-typings';
import Table from 'cli-table3';

/** Borderless columns, as the docker CLI prints listings. */
export function table(head: string[], rows: string[][]): string {
  const t = new Table({
    head,
    chars: Object.fromEntries(
      [
        'top',
        'top-mid',
        'top-left',
        'top-right',
        'bottom',
        'bottom-mid',
        'bottom-left',
        'bottom-right',
        'left',
        'left-mid',
        'mid',
        'mid-mid',
        'right',
        'right-mid',
        'middle',
      ].map((k) => [k, k === 'middle' ? '   ' : '']),
    ),
    style: { head: [], border: [], 'padding-left': 0, 'padding-right': 0 },
  });
  t.push(...rows);
  return `${t
    .toString()
    .split('\n')
    .map((l) => l.trimEnd())
    .join('\n')}\n`;
}

/** How long ago, as the docker CLI says it: `5 seconds ago`, `3 minutes ago`. */
export function ago(ms: bigint | number, now = Date.now()): string {
  const s = Math.max(0, Math.round((now - Number(ms)) / 1000));
  if (!Number(ms)) return '';
  const unit = (n: number, u: string) => `${n} ${u}${n === 1 ? '' : 's'} ago`;
  if (s < 60) return unit(s, 'second');
  if (s < 3600) return unit(Math.floor(s / 60), 'minute');
  if (s < 86400) return unit(Math.floor(s / 3600), 'hour');
  return unit(Math.floor(s / 86400), 'day');
}

/** `--format table|json`, which every listing takes. */
export function listingFormatOption() {
  return new Option('--format <FORMAT>', 'output format').choices(['table', 'json'] as const).default('table' as const);
}
