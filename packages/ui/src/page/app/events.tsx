/* The event stream panel: the newest cluster events, newest at the top. */
import { memo } from 'preact/compat';
import type { UiEvent } from '../../model.js';
import { clock } from './format.js';

export const EventsPanel = memo(function EventsPanel({ events, available }: { events: UiEvent[]; available: boolean }) {
  return (
    <section class="panel events" data-events="" aria-labelledby="events-title">
      <h2 id="events-title">Events</h2>
      {!available && (
        <p class="quiet" role="status">
          The cluster's event log cannot be reached, so no events are shown. Everything else on this page is live.
        </p>
      )}
      {available && events.length === 0 && <p class="quiet">No events yet.</p>}
      <ol class="event-list" aria-live="off">
        {events
          .slice()
          .reverse()
          .map((e, i) => (
            <li key={`${e.at}-${events.length - i}`}>
              <span class="mono">{clock(e.at)}</span> <span class="event-type">{e.type}</span> {e.action}{' '}
              <strong>{e.actor}</strong>
              {e.message && <span class="quiet"> — {e.message}</span>}
            </li>
          ))}
      </ol>
    </section>
  );
});
