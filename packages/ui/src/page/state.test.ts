/* How stream batches change the page's state; what the board's cheap redraws rely on. */
import { describe, expect, it } from 'vitest';
import type { UiEvent, UiTask } from '../model.js';
import { SAMPLES_KEPT } from '../model.js';
import { applyBatch, EVENTS_KEPT, emptyState, type PageState, UNASSIGNED } from './app/state.js';
import { snapshot } from './test-support/fixtures.js';

function loaded(): PageState {
  return applyBatch(emptyState(), [{ type: 'snapshot', data: snapshot({ nodes: 3, services: 2, perNode: 3 }) }]);
}

const ids = (tasks: UiTask[] | undefined) => (tasks ?? []).map((t) => t.id);

describe('applyBatch', () => {
  it('groups the snapshot by node, by service then slot, with pending tasks unassigned', () => {
    const state = loaded();
    expect(state.loaded).toBe(true);
    let total = 0;
    for (const [nodeId, tasks] of state.byNode) {
      total += tasks.length;
      for (const t of tasks) expect(t.nodeId).toBe(nodeId);
      const order = tasks.map((t) => `${t.serviceName}\u0000${String(t.slot).padStart(6, '0')}`);
      expect(order).toEqual([...order].sort());
    }
    expect(total).toBe(state.tasks.size);
    expect(ids(state.byNode.get(UNASSIGNED))).toEqual(['tpending']);
  });

  it('moves a task between columns and leaves the other columns untouched (same arrays)', () => {
    const before = loaded();
    const task = before.byNode.get('node0000')![0]!;
    const after = applyBatch(before, [{ type: 'task', data: { op: 'put', object: { ...task, nodeId: 'node0002' } } }]);
    expect(ids(after.byNode.get('node0000'))).not.toContain(task.id);
    expect(ids(after.byNode.get('node0002'))).toContain(task.id);
    expect(after.byNode.get('node0001')).toBe(before.byNode.get('node0001'));
    expect(after.byNode.get('node0000')).not.toBe(before.byNode.get('node0000'));
    // The old state is not changed: the page can still compare against it.
    expect(ids(before.byNode.get('node0000'))).toContain(task.id);
  });

  it('deletes tasks, nodes and services', () => {
    const before = loaded();
    const after = applyBatch(before, [
      { type: 'task', data: { op: 'delete', id: 'tpending' } },
      { type: 'node', data: { op: 'delete', id: 'node0001' } },
      { type: 'service', data: { op: 'delete', id: 'svc000' } },
    ]);
    expect(after.tasks.has('tpending')).toBe(false);
    expect(after.byNode.has(UNASSIGNED)).toBe(false);
    expect(after.nodes.has('node0001')).toBe(false);
    expect(after.services.has('svc000')).toBe(false);
    expect(before.tasks.has('tpending')).toBe(true);
  });

  it('keeps the arrays of unchanged columns across a fresh snapshot, so nothing unchanged is redrawn', () => {
    const snap = snapshot({ nodes: 3, services: 2, perNode: 3 });
    const first = applyBatch(emptyState(), [{ type: 'snapshot', data: snap }]);
    const changed = first.byNode.get('node0002')![0]!;
    const again = {
      ...snap,
      tasks: snap.tasks.map((t) => (t.id === changed.id ? { ...t, state: 'failed' } : t)),
    };
    const second = applyBatch(first, [{ type: 'snapshot', data: again }]);
    expect(second.byNode.get('node0000')).toBe(first.byNode.get('node0000'));
    expect(second.byNode.get('node0002')).not.toBe(first.byNode.get('node0002'));
    expect(second.tasks.get(changed.id)?.state).toBe('failed');
  });

  it('keeps no more samples and events than the contract says', () => {
    const state = loaded();
    const batch = [];
    for (let i = 0; i < SAMPLES_KEPT + 5; i++) batch.push({ type: 'sample' as const, data: { at: i, running: {} } });
    for (let i = 0; i < EVENTS_KEPT + 5; i++) {
      const event: UiEvent = { at: i, type: 'task', action: 'x', actor: `a${i}`, message: '' };
      batch.push({ type: 'event' as const, data: event });
    }
    const after = applyBatch(state, batch);
    expect(after.samples).toHaveLength(SAMPLES_KEPT);
    expect(after.samples.at(-1)?.at).toBe(SAMPLES_KEPT + 4);
    expect(after.events).toHaveLength(EVENTS_KEPT);
    expect(after.events.at(-1)?.actor).toBe(`a${EVENTS_KEPT + 4}`);
    expect(state.events.length).toBeLessThan(EVENTS_KEPT);
  });

  it('returns the same state for an empty batch', () => {
    const state = loaded();
    expect(applyBatch(state, [])).toBe(state);
  });
});
