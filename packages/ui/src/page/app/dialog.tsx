/* The confirmation dialog every action goes through (a native <dialog>: focus trap and Escape come with it). */
import { useEffect, useRef, useState } from 'preact/hooks';
import type { Action } from './api.js';

export interface Pending {
  action: Action;
  what: string;
}

export function ConfirmDialog({
  pending,
  onConfirm,
  onCancel,
}: {
  pending: Pending | undefined;
  onConfirm(action: Action): void;
  onCancel(): void;
}) {
  const dialog = useRef<HTMLDialogElement>(null);
  const [replicas, setReplicas] = useState('');
  const [invalid, setInvalid] = useState('');

  useEffect(() => {
    const d = dialog.current;
    if (!d) return;
    if (pending && !d.open) {
      setReplicas(pending.action.kind === 'scale' ? String(pending.action.replicas) : '');
      setInvalid('');
      d.showModal();
    } else if (!pending && d.open) {
      d.close();
    }
  }, [pending]);

  const confirm = (event: Event) => {
    event.preventDefault();
    if (!pending) return;
    if (pending.action.kind === 'scale') {
      const n = Number(replicas);
      if (!Number.isInteger(n) || n < 0) {
        setInvalid('Replicas must be a whole number, 0 or more.');
        return;
      }
      onConfirm({ ...pending.action, replicas: n });
    } else {
      onConfirm(pending.action);
    }
  };

  const what = pending?.what ?? '';
  return (
    <dialog
      ref={dialog}
      data-confirm-dialog=""
      aria-labelledby="confirm-title"
      onCancel={(event) => {
        event.preventDefault();
        onCancel();
      }}
    >
      <form method="dialog" onSubmit={confirm}>
        <h2 id="confirm-title">{what}?</h2>
        {pending?.action.kind === 'scale' && (
          <label>
            Replicas{' '}
            <input
              name="replicas"
              type="number"
              min="0"
              step="1"
              required
              value={replicas}
              aria-invalid={invalid ? 'true' : 'false'}
              onInput={(event) => setReplicas(event.currentTarget.value)}
            />
          </label>
        )}
        {pending?.action.kind === 'drain' && (
          <p>Its tasks are stopped and started again on other nodes; no new task is placed on it.</p>
        )}
        {pending?.action.kind === 'rollback' && <p>The service goes back to its previous spec, in batches.</p>}
        {pending?.action.kind === 'force' && (
          <p>Every task is replaced, in batches, even though the spec did not change.</p>
        )}
        {invalid && (
          <p class="error" role="alert">
            {invalid}
          </p>
        )}
        <div class="dialog-buttons">
          <button type="button" data-cancel="" onClick={onCancel}>
            Cancel
          </button>
          <button type="submit" data-confirm="" class="primary">
            {what}
          </button>
        </div>
      </form>
    </dialog>
  );
}
