import { Task, TaskState } from '@flotilla/api';
import type { Change } from '@flotilla/store';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { HandedTasks } from './handed-tasks.js';

const task = (id: string, nodeId: string, state = TaskState.TASK_STATE_ASSIGNED) =>
  Task.fromPartial({ id, nodeId, status: { state } });

describe('tasks handed to each node', () => {
  it('counts as the store says, whatever order and repetition the changes come in, and keeps no empty node', () => {
    const op = fc.tuple(fc.integer({ min: 0, max: 20 }), fc.option(fc.integer({ min: 0, max: 4 }), { nil: undefined }));
    fc.assert(
      fc.property(fc.array(op, { maxLength: 200 }), (ops) => {
        const handed = new HandedTasks();
        const store = new Map<string, Task>();
        for (const [t, node] of ops) {
          const id = `t${t}`;
          const previous = store.get(id);
          let change: Change<Task>;
          if (node === undefined) {
            store.delete(id);
            change = { type: 'delete', id, ...(previous ? { previous } : {}) } as Change<Task>;
          } else {
            const value = task(
              id,
              `n${node}`,
              node === 4 ? TaskState.TASK_STATE_PENDING : TaskState.TASK_STATE_RUNNING,
            );
            store.set(id, value);
            change = { type: 'put', id, value, version: 1n, ...(previous ? { previous } : {}) } as Change<Task>;
          }
          // Delivered twice (a relist after the watch): counted once.
          handed.apply({ revision: 1n, relisted: false, changes: [change, change] });
        }
        for (let n = 0; n < 5; n++) {
          const expected = [...store.values()].filter((v) => v.nodeId === `n${n}` && n !== 4).length;
          expect(handed.count(`n${n}`)).toBe(expected);
          const ids = [...store.values()].filter((v) => v.nodeId === `n${n}` && n !== 4).map((v) => v.id);
          expect(handed.ids(`n${n}`)).toEqual(ids.sort());
        }
        expect(handed.nodes).toBe(
          new Set([...store.values()].filter((v) => v.nodeId !== 'n4').map((v) => v.nodeId)).size,
        );
      }),
    );
  });
});
