import {
  type Service,
  type Task,
  TaskState,
  UpdateConfig,
  UpdateConfig_FailureAction,
  UpdateStatus_State,
} from '@flotilla/api';
import { describe, expect, it } from 'vitest';
import { context, node, service, task } from '../test/fixtures.js';
import { newSpecVersion, rollback, SPEC_HISTORY_LIMIT, updateStep } from './update.js';

const SECOND = 1_000_000_000n;
const nodes = [node('n1')];

/** A service at spec version 2 whose update (to version 2) began at `startedAt`. */
function updating(startedAt: number, config: Record<string, unknown> = {}, state = UpdateStatus_State.STATE_UPDATING) {
  const s = service({
    replicas: 4n,
    updateConfig: UpdateConfig.fromPartial({
      parallelism: 2n,
      monitorNs: SECOND,
      delayNs: 0n,
      maxFailureRatio: 0,
      ...config,
    }),
  });
  return {
    ...s,
    specVersion: 2n,
    previousSpec: { ...s.spec, container: { ...s.spec?.container, image: 'old' } },
    updateStatus: { state, startedAtMs: BigInt(startedAt), completedAtMs: 0n, message: '', specVersion: 2n },
  } as Service;
}

const old = (slot: number) => task({ slot: BigInt(slot), specVersion: 1n, nodeId: 'n1' });
const fresh = (slot: number, fields: Partial<Task> & { state?: TaskState } = {}) =>
  task({ slot: BigInt(slot), specVersion: 2n, nodeId: 'n1', createdAtMs: 5_000n, ...fields });

describe('rolling update step', () => {
  it('starts an update when tasks run an older spec, recording the version it rolls out', () => {
    const s = { ...service(), specVersion: 2n };
    const step = updateStep(s, [old(1), old(2)], context(nodes, 7_000));
    expect(step.budget).toBe(0);
    expect(step.service?.updateStatus).toMatchObject({ state: UpdateStatus_State.STATE_UPDATING, specVersion: 2n });
    expect(step.outdated(old(1))).toBe(true);
  });

  it('keeps a slot in motion until its new task has run for the monitor period', () => {
    const tasks = [
      fresh(1, { status: { state: TaskState.TASK_STATE_RUNNING, timestampMs: 9_500n } as Task['status'] }),
      fresh(2, { state: TaskState.TASK_STATE_STARTING }),
      old(3),
      old(4),
    ];
    const step = updateStep(updating(4_000), tasks, context(nodes, 10_000));
    expect(step.budget).toBe(0);
    expect(step.wakeAt).toBe(10_500);
    const later = updateStep(
      updating(4_000),
      [{ ...tasks[0]! }, { ...tasks[1]!, status: tasks[0]!.status }, old(3), old(4)],
      context(nodes, 10_600),
    );
    expect(later.budget).toBe(2);
  });

  it('waits the delay after a batch settles before the next', () => {
    const ran = { state: TaskState.TASK_STATE_RUNNING, timestampMs: 6_000n } as Task['status'];
    const tasks = [fresh(1, { status: ran }), fresh(2, { status: ran }), old(3), old(4)];
    const step = updateStep(updating(4_000, { delayNs: 2n * SECOND }), tasks, context(nodes, 8_000));
    expect(step.budget).toBe(0);
    expect(step.wakeAt).toBe(9_000);
    expect(updateStep(updating(4_000, { delayNs: 2n * SECOND }), tasks, context(nodes, 9_000)).budget).toBe(2);
  });

  it('pauses when new tasks fail past the ratio, saying why', () => {
    const tasks = [
      fresh(1, {
        state: TaskState.TASK_STATE_FAILED,
        status: { state: TaskState.TASK_STATE_FAILED, error: 'exited with code 1' } as Task['status'],
      }),
      old(2),
      old(3),
      old(4),
    ];
    const step = updateStep(updating(4_000), tasks, context(nodes));
    expect(step.budget).toBe(0);
    expect(step.service?.updateStatus).toMatchObject({
      state: UpdateStatus_State.STATE_PAUSED,
      message: 'update paused: 1 of 4 new tasks failed (exited with code 1)',
    });
    // Under the ratio (1 of 4 = 0.25 ≤ 0.5) the update goes on.
    expect(updateStep(updating(4_000, { maxFailureRatio: 0.5 }), tasks, context(nodes)).service).toBeUndefined();
  });

  it('rolls back to the previous spec as a new version', () => {
    const tasks = [fresh(1, { state: TaskState.TASK_STATE_REJECTED }), old(2), old(3), old(4)];
    const s = updating(4_000, { failureAction: UpdateConfig_FailureAction.FAILURE_ACTION_ROLLBACK });
    const step = updateStep(s, tasks, context(nodes, 12_000));
    expect(step.service?.spec?.container?.image).toBe('old');
    expect(step.service?.specVersion).toBe(3n);
    expect(step.service?.updateStatus).toMatchObject({
      state: UpdateStatus_State.STATE_ROLLBACK_STARTED,
      specVersion: 3n,
    });
  });

  it('a rollback replaces only the failed release: tasks on the spec it brings back stay, through rollbacks in a row', () => {
    const image = (s: Service, name: string) => ({ ...s.spec!, container: { ...s.spec!.container!, image: name } });
    const at = (version: bigint, slot: number) => task({ slot: BigInt(slot), specVersion: version, nodeId: 'n1' });
    const v1 = { ...service({ replicas: 2n }), specVersion: 1n };
    const v2 = newSpecVersion(v1, image(v1, 'b'), 2_000);
    const v3 = rollback(v2, 3_000, 'update rolled back');
    expect(v3.spec?.container?.image).toBe(v1.spec?.container?.image);
    const step3 = updateStep(v3, [at(1n, 1), at(2n, 2)], context(nodes, 3_000));
    expect(step3.outdated(at(1n, 1))).toBe(false);
    expect(step3.outdated(at(2n, 2))).toBe(true);
    // Another release fails and rolls back: the tasks kept by the first rollback (version 1) still stay.
    const v5 = rollback(newSpecVersion(v3, image(v3, 'c'), 4_000), 5_000, 'update rolled back');
    const step5 = updateStep(v5, [at(1n, 1), at(3n, 2), at(4n, 3)], context(nodes, 5_000));
    expect([1n, 3n, 4n].map((v) => step5.outdated(at(v, 1)))).toEqual([false, false, true]);
    // A forced update (same spec, a new version) replaces them all.
    const forced = newSpecVersion(v5, v5.spec, 6_000);
    const step6 = updateStep(forced, [at(1n, 1), at(5n, 2)], context(nodes, 6_000));
    expect([1n, 3n, 5n].map((v) => step6.outdated(at(v, 1)))).toEqual([true, true, true]);
  });

  it('completes once nothing is outdated and the last batch has settled; a paused update moves nothing', () => {
    const ran = { state: TaskState.TASK_STATE_RUNNING, timestampMs: 6_000n } as Task['status'];
    const all = [1, 2, 3, 4].map((slot) => fresh(slot, { status: ran }));
    expect(updateStep(updating(4_000), all, context(nodes, 8_000)).service?.updateStatus?.state).toBe(
      UpdateStatus_State.STATE_COMPLETED,
    );
    const paused = updating(4_000, {}, UpdateStatus_State.STATE_PAUSED);
    expect(updateStep(paused, [old(1), old(2)], context(nodes)).budget).toBe(0);
  });

  it('keeps the last 10 specs, newest first, the one replaced as previous_spec', () => {
    let s = service();
    for (let i = 2; i <= 14; i++) {
      s = newSpecVersion(s, { ...s.spec!, container: { ...s.spec!.container!, image: `app:${i}` } }, i * 1_000);
    }
    expect(s.specVersion).toBe(14n);
    expect(s.specHistory).toHaveLength(SPEC_HISTORY_LIMIT);
    expect(s.specHistory.map((h) => h.specVersion)).toEqual([13n, 12n, 11n, 10n, 9n, 8n, 7n, 6n, 5n, 4n]);
    expect(s.specHistory[0]?.spec?.container?.image).toBe('app:13');
    expect(s.previousSpec?.container?.image).toBe('app:13');
  });
});
