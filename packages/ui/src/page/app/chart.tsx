/*
 * Tasks running per service over the samples, drawn as SVG lines by hand. Each line has its own colour AND dash
 * pattern, and the legend says the latest figure, so the chart is readable without telling colours apart.
 */
import { memo } from 'preact/compat';
import type { UiSample, UiService } from '../../model.js';

/** More lines than this are unreadable: the busiest services are drawn, the rest counted. */
export const CHART_LINES = 8;
const COLOURS = ['#0b62d6', '#c2410c', '#15803d', '#7e22ce', '#be123c', '#0e7490', '#a16207', '#4b5563'];
const DASHES = ['', '6 3', '2 3', '8 3 2 3', '1 2', '10 4', '4 4', '6 2 2 2'];
const W = 320;
const H = 120;
const PAD = 4;

export const Chart = memo(function Chart({ samples, services }: { samples: UiSample[]; services: UiService[] }) {
  const last = samples[samples.length - 1];
  const shown = services
    .filter((s) => samples.some((x) => (x.running[s.id] ?? 0) > 0))
    .sort((a, b) => (last?.running[b.id] ?? 0) - (last?.running[a.id] ?? 0) || (a.name < b.name ? -1 : 1))
    .slice(0, CHART_LINES);
  const hidden = services.length - shown.length;
  let top = 1;
  for (const sample of samples) for (const s of shown) top = Math.max(top, sample.running[s.id] ?? 0);
  const first = samples[0]?.at ?? 0;
  const span = Math.max(1, (last?.at ?? 0) - first);
  const x = (at: number) => PAD + ((at - first) / span) * (W - 2 * PAD);
  const y = (n: number) => H - PAD - (n / top) * (H - 2 * PAD);
  const summary = shown.map((s) => `${s.name} ${last?.running[s.id] ?? 0}`).join(', ');
  return (
    <section class="panel chart" data-chart="" aria-labelledby="chart-title">
      <h2 id="chart-title">Tasks running per service</h2>
      {samples.length < 2 ? (
        <p class="quiet">Not enough samples yet (one every few seconds).</p>
      ) : (
        <>
          <svg
            viewBox={`0 0 ${W} ${H}`}
            role="img"
            aria-label={`Tasks running per service over the last ${Math.round(span / 60000)} min: ${summary}`}
          >
            <line class="axis" x1={PAD} y1={H - PAD} x2={W - PAD} y2={H - PAD} />
            <text class="axis-text" x={PAD} y={PAD + 8}>
              {top}
            </text>
            {shown.map((s, i) => (
              <polyline
                key={s.id}
                fill="none"
                stroke={COLOURS[i % COLOURS.length]}
                stroke-width="2"
                stroke-dasharray={DASHES[i % DASHES.length]}
                points={samples.map((p) => `${x(p.at).toFixed(1)},${y(p.running[s.id] ?? 0).toFixed(1)}`).join(' ')}
              />
            ))}
          </svg>
          <ul class="legend">
            {shown.map((s, i) => (
              <li key={s.id}>
                <svg width="24" height="8" aria-hidden="true">
                  <line
                    x1="0"
                    y1="4"
                    x2="24"
                    y2="4"
                    stroke={COLOURS[i % COLOURS.length]}
                    stroke-width="2"
                    stroke-dasharray={DASHES[i % DASHES.length]}
                  />
                </svg>{' '}
                {s.name}: {last?.running[s.id] ?? 0}
              </li>
            ))}
            {hidden > 0 && <li class="quiet">{hidden} more services not drawn</li>}
          </ul>
        </>
      )}
    </section>
  );
});
