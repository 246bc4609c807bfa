import { Dependency_Condition, TaskHealth, TaskState } from '@flotilla/api';
import { describe, expect, it } from 'vitest';
import { service, task } from '../test/fixtures.js';
import { dependencyState, unmetDependency } from './dependencies.js';

const running = (fields = {}) => task({ state: TaskState.TASK_STATE_RUNNING, ...fields });

describe('depends_on', () => {
  it('summarises a dependency: started, healthy (or running without a check), completed', () => {
    expect(dependencyState(undefined, [])).toEqual({ exists: false, started: false, healthy: false, completed: false });
    const checked = { spec: { image: 'db', healthcheck: { test: ['CMD', 'pg_isready'] } } } as never;
    expect(dependencyState(service(), [running(checked)])).toMatchObject({ started: true, healthy: false });
    expect(
      dependencyState(service(), [
        running({
          ...(checked as object),
          status: { state: TaskState.TASK_STATE_RUNNING, health: TaskHealth.TASK_HEALTH_HEALTHY },
        }),
      ]),
    ).toMatchObject({ healthy: true });
    expect(dependencyState(service(), [running()])).toMatchObject({ healthy: true });
    const done = task({ status: { state: TaskState.TASK_STATE_COMPLETE, exitCode: 0 } as never });
    expect(dependencyState(service(), [done]).completed).toBe(true);
  });

  it('says what a service waits for, skipping optional dependencies that are not deployed', () => {
    const web = service({
      dependsOn: [
        { service: 'st_cache', condition: Dependency_Condition.CONDITION_SERVICE_STARTED, required: false },
        { service: 'st_db', condition: Dependency_Condition.CONDITION_SERVICE_HEALTHY, required: true },
        {
          service: 'st_migrate',
          condition: Dependency_Condition.CONDITION_SERVICE_COMPLETED_SUCCESSFULLY,
          required: true,
        },
      ],
    });
    const none = { exists: false, started: false, healthy: false, completed: false };
    const states: Record<string, typeof none> = {
      st_db: { exists: true, started: true, healthy: false, completed: false },
      st_migrate: { exists: true, started: false, healthy: false, completed: false },
    };
    const lookup = (name: string) => states[name] ?? none;
    expect(unmetDependency(web, lookup)).toBe('waiting for st_db to be healthy');
    states.st_db = { ...states.st_db!, healthy: true };
    expect(unmetDependency(web, lookup)).toBe('waiting for st_migrate to complete successfully');
    states.st_migrate = { ...states.st_migrate!, completed: true };
    expect(unmetDependency(web, lookup)).toBeUndefined();
  });
});
