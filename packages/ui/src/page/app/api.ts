/* The page's requests to its own server: task detail and the actions (see model.ts for the routes). */
import type { ActionError, ActionResult, TaskDetail } from '../../model.js';

export type Action =
  | { kind: 'scale'; serviceId: string; replicas: number }
  | { kind: 'rollback'; serviceId: string }
  | { kind: 'force'; serviceId: string }
  | { kind: 'drain' | 'activate'; nodeId: string };

export function actionRequest(action: Action): { url: string; body: unknown } {
  switch (action.kind) {
    case 'scale':
      return {
        url: `/api/services/${encodeURIComponent(action.serviceId)}/scale`,
        body: { replicas: action.replicas },
      };
    case 'rollback':
    case 'force':
      return { url: `/api/services/${encodeURIComponent(action.serviceId)}/${action.kind}`, body: {} };
    case 'drain':
    case 'activate':
      return {
        url: `/api/nodes/${encodeURIComponent(action.nodeId)}/availability`,
        body: { availability: action.kind === 'drain' ? 'drain' : 'active' },
      };
  }
}

/** Sends an action; resolves to what the server said, error included (never throws). */
export async function sendAction(action: Action): Promise<{ ok: boolean; message: string }> {
  const { url, body } = actionRequest(action);
  try {
    const response = await fetch(url, {
      method: 'POST',
      credentials: 'same-origin',
      // The server refuses a POST without this header: a cross-site form cannot set it.
      headers: { 'Content-Type': 'application/json', 'X-Flotilla-UI': '1' },
      body: JSON.stringify(body),
    });
    const answer = (await response.json().catch(() => ({}))) as Partial<ActionResult & ActionError>;
    if (response.ok) return { ok: true, message: answer.message || 'Done.' };
    return { ok: false, message: answer.error || `The UI server answered ${response.status}.` };
  } catch {
    return { ok: false, message: 'The UI server cannot be reached; is `flotilla ui` still running?' };
  }
}

export async function fetchDetail(taskId: string): Promise<TaskDetail> {
  const response = await fetch(`/api/tasks/${encodeURIComponent(taskId)}`, { credentials: 'same-origin' });
  if (!response.ok) {
    const answer = (await response.json().catch(() => ({}))) as Partial<ActionError>;
    throw new Error(answer.error || `The UI server answered ${response.status}.`);
  }
  return (await response.json()) as TaskDetail;
}
