/* The services panel: replicas, where a rolling update stands (in words and as a bar in batches), history, actions. */
import { memo } from 'preact/compat';
import type { UiService, UiUpdate } from '../../model.js';
import type { Action } from './api.js';
import { ago } from './format.js';

export interface ServicesProps {
  services: UiService[];
  now: number;
  onAction(action: Action, what: string): void;
}

export function ServicesPanel({ services, now, onAction }: ServicesProps) {
  return (
    <section class="panel services" aria-labelledby="services-title">
      <h2 id="services-title">Services ({services.length})</h2>
      {services.length === 0 ? (
        <p class="quiet">No services.</p>
      ) : (
        <ul class="service-list">
          {services.map((service) => (
            <ServiceRow key={service.id} service={service} now={now} onAction={onAction} />
          ))}
        </ul>
      )}
    </section>
  );
}

/** What the update state means, said plainly. Empty when there is nothing to say. */
export function updateWords(update: UiUpdate): { text: string; tone: 'ok' | 'busy' | 'bad' | '' } {
  const note = update.message ? `: ${update.message}` : '';
  switch (update.state) {
    case 'updating':
      return { text: `Updating to version ${update.specVersion}${note}`, tone: 'busy' };
    case 'paused':
      return { text: `Update PAUSED${note}`, tone: 'bad' };
    case 'completed':
      return { text: `Update completed (version ${update.specVersion})`, tone: 'ok' };
    case 'rollback_started':
      return { text: `Rolling BACK${note}`, tone: 'bad' };
    case 'rollback_paused':
      return { text: `Rollback PAUSED${note}`, tone: 'bad' };
    case 'rollback_completed':
      return { text: `ROLLED BACK${note}`, tone: 'bad' };
    default:
      return { text: '', tone: '' };
  }
}

const ServiceRow = memo(function ServiceRow({
  service,
  now,
  onAction,
}: {
  service: UiService;
  now: number;
  onAction: ServicesProps['onAction'];
}) {
  const words = updateWords(service.update);
  const isJob = service.mode.endsWith('job');
  const replicated = service.mode === 'replicated';
  const short = service.running < service.desired;
  return (
    <li
      class="service"
      data-service-id={service.id}
      data-running={service.running}
      data-desired={service.desired}
      data-update-state={service.update.state}
      aria-label={`Service ${service.name}`}
    >
      <div class="service-head">
        <h3 class="service-name">{service.name}</h3>
        <span class={`replicas ${short ? 'bad' : 'ok'}`}>
          <span aria-hidden="true">{short ? '▲ ' : '● '}</span>
          {service.running}/{service.desired} running
          {isJob && ` · ${service.completed}/${service.completions} completed`}
        </span>
      </div>
      <p class="service-meta">
        {service.mode}
        {service.stack && ` · stack ${service.stack}`} · <span class="mono">{service.image}</span>
        {service.ports && (
          <>
            {' '}
            · <span class="mono">{service.ports}</span>
          </>
        )}{' '}
        · version {service.specVersion}
      </p>
      {words.text && (
        // Not a live region: a thousand services updating at once would drown a screen reader.
        <p class={`update-state ${words.tone}`}>{words.text}</p>
      )}
      {(service.update.state === 'updating' ||
        service.update.state === 'paused' ||
        service.update.state === 'rollback_started' ||
        service.update.state === 'rollback_paused') && <Progress update={service.update} />}
      {service.lastChange.length > 0 && (
        <details class="last-change">
          <summary>Last change ({service.lastChange.length})</summary>
          <ul class="mono">
            {service.lastChange.map((line) => (
              <li key={line}>{line}</li>
            ))}
          </ul>
        </details>
      )}
      {service.revisions.length > 0 && (
        <details class="revisions">
          <summary>Revisions ({service.revisions.length})</summary>
          <ol>
            {service.revisions.map((revision) => (
              <li key={revision.specVersion}>
                version {revision.specVersion} · <span class="mono">{revision.image}</span> ·{' '}
                {revision.replacedAt ? `replaced ${ago(revision.replacedAt, now)}` : 'current'}
              </li>
            ))}
          </ol>
        </details>
      )}
      <div class="service-actions">
        {replicated && (
          <button
            type="button"
            data-action="scale"
            aria-label={`Scale ${service.name}`}
            onClick={() =>
              onAction({ kind: 'scale', serviceId: service.id, replicas: service.desired }, `Scale ${service.name}`)
            }
          >
            Scale…
          </button>
        )}
        <button
          type="button"
          data-action="rollback"
          aria-label={`Roll back ${service.name}`}
          disabled={service.revisions.length < 2}
          onClick={() => onAction({ kind: 'rollback', serviceId: service.id }, `Roll back ${service.name}`)}
        >
          Roll back…
        </button>
        <button
          type="button"
          data-action="force"
          aria-label={`Force update ${service.name}`}
          onClick={() => onAction({ kind: 'force', serviceId: service.id }, `Force update ${service.name}`)}
        >
          Force update…
        </button>
      </div>
    </li>
  );
});

/** The rolling update's bar, one segment per batch of `parallelism` slots (0: one batch of all). */
export function Progress({ update }: { update: UiUpdate }) {
  const total = Math.max(0, update.slotsTotal);
  const size = update.parallelism > 0 ? update.parallelism : Math.max(total, 1);
  const batches: { size: number; done: number }[] = [];
  for (let start = 0; start < total; start += size) {
    const n = Math.min(size, total - start);
    batches.push({ size: n, done: Math.min(n, Math.max(0, update.slotsDone - start)) });
  }
  const text = `${update.slotsDone} of ${total} slots updated, in batches of ${size}`;
  return (
    <div class="progress" role="img" aria-label={text} title={text}>
      <div class="progress-track" aria-hidden="true">
        {batches.map((batch, i) => (
          <span class="batch" key={i} style={{ flexGrow: batch.size }}>
            <span class="batch-fill" style={{ width: `${(batch.done / batch.size) * 100}%` }} />
          </span>
        ))}
      </div>
      <span class="progress-text" aria-hidden="true">
        {text}
      </span>
    </div>
  );
}
