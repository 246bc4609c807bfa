import {
  type ContainerSpec,
  FileObject,
  FileObjectKind,
  type FileReference,
  fileObjectIds,
  Service,
  Task,
  TaskState,
} from '@flotilla/api';
import { describe, expect, it } from 'vitest';
import { collectableFileObjects, FileObjectUse } from './file-references.js';

const ref = (objectId: string): FileReference => ({ source: 'x', target: '', uid: '', gid: '', mode: 0o444, objectId });
const container = (secrets: string[], configs: string[] = []): Partial<ContainerSpec> => ({
  image: 'app',
  secrets: secrets.map(ref),
  configs: configs.map(ref),
});

function service(
  id: string,
  stack: string,
  spec: { secrets?: string[]; configs?: string[] },
  previous?: { secrets?: string[] },
): Service {
  return Service.fromPartial({
    id,
    spec: { annotations: { name: `${stack}_${id}` }, stack, container: container(spec.secrets ?? [], spec.configs) },
    ...(previous ? { previousSpec: { stack, container: container(previous.secrets ?? []) } } : {}),
  });
}

function task(serviceId: string, secrets: string[], state: TaskState, desired = TaskState.TASK_STATE_RUNNING): Task {
  return Task.fromPartial({
    id: `${serviceId}-${state}`,
    serviceId,
    serviceName: `gone_${serviceId}`,
    desiredState: desired,
    status: { state },
    spec: container(secrets),
  });
}

const NOW = 1_000_000;
function file(id: string, name: string, version: bigint, stack: string, ageMs = 120_000): FileObject {
  return FileObject.fromPartial({
    id,
    kind: FileObjectKind.FILE_OBJECT_KIND_SECRET,
    name,
    stack,
    version,
    createdAtMs: BigInt(NOW - ageMs),
  });
}

describe('fileObjectIds', () => {
  it("names the versions of a spec's secrets and configs, and not references with no version yet", () => {
    expect(fileObjectIds(container(['s1', ''], ['c1']) as ContainerSpec).sort()).toEqual(['c1', 's1']);
    expect(fileObjectIds(undefined)).toEqual([]);
  });
});

describe('FileObjectUse', () => {
  it("counts a service's spec, its previous spec (a rollback's target) and tasks not ended", () => {
    const use = new FileObjectUse(
      [service('web', 'a', { secrets: ['v2'], configs: ['c1'] }, { secrets: ['v1'] }), service('api', 'a', {})],
      [
        task('api', ['v0'], TaskState.TASK_STATE_RUNNING, TaskState.TASK_STATE_SHUTDOWN),
        task('api', ['old'], TaskState.TASK_STATE_SHUTDOWN, TaskState.TASK_STATE_SHUTDOWN),
        task('api', ['failed'], TaskState.TASK_STATE_FAILED),
        task('removed', ['orphan'], TaskState.TASK_STATE_STARTING),
      ],
    );
    expect(use.usedBy('v2')).toEqual(['a_web']);
    expect(use.usedBy('v1')).toEqual(['a_web']);
    expect(use.usedBy('c1')).toEqual(['a_web']);
    // A task still stopping holds its files until it has ended.
    expect(use.usedBy('v0')).toEqual(['a_api']);
    // A task of a removed service is named by the name it carries.
    expect(use.usedBy('orphan')).toEqual(['gone_removed']);
    // Ended tasks use nothing.
    expect(use.inUse('old')).toBe(false);
    expect(use.inUse('failed')).toBe(false);
    expect(use.inUse('nothing')).toBe(false);
  });

  it('names each service once, sorted', () => {
    const use = new FileObjectUse(
      [service('b', 's', { secrets: ['x'] }, { secrets: ['x'] }), service('a', 's', { secrets: ['x'] })],
      [task('b', ['x'], TaskState.TASK_STATE_RUNNING)],
    );
    expect(use.usedBy('x')).toEqual(['s_a', 's_b']);
  });
});

describe('collectableFileObjects', () => {
  const options = { nowMs: NOW, minAgeMs: 60_000 };

  it("removes a stack's older versions no one uses, and keeps the newest, the used and the operator's own", () => {
    const files = [
      file('v1', 'a_db', 1n, 'a'),
      file('v2', 'a_db', 2n, 'a'),
      file('v3', 'a_db', 3n, 'a'),
      file('v4', 'a_db', 4n, 'a'),
      file('own1', 'manual', 1n, ''),
      file('own2', 'manual', 2n, ''),
    ];
    const services = [service('web', 'a', { secrets: ['v3'] }, { secrets: ['v2'] })];
    const use = new FileObjectUse(services, []);
    const gone = collectableFileObjects(files, services, use, options).map((f) => f.id);
    // v1: superseded and unused. v2: the rollback target. v3: in use. v4: the newest. own*: `secret create`'s.
    expect(gone).toEqual(['v1']);
  });

  it('removes even the newest version once its stack has no service, unless a task still uses it', () => {
    const files = [file('n1', 'gone_db', 1n, 'gone'), file('n2', 'gone_pw', 1n, 'gone'), file('k1', 'a_db', 1n, 'a')];
    const services = [service('web', 'a', {})];
    const tasks = [task('web-of-gone', ['n2'], TaskState.TASK_STATE_RUNNING, TaskState.TASK_STATE_SHUTDOWN)];
    const gone = collectableFileObjects(files, services, new FileObjectUse(services, tasks), options);
    expect(gone.map((f) => f.id)).toEqual(['n1']);
  });

  it('keeps versions younger than the minimum age (a deploy stores them before its services)', () => {
    const files = [file('young', 'new_db', 1n, 'new', 1_000), file('older', 'new_db', 1n, 'other', 61_000)];
    const gone = collectableFileObjects(files, [], new FileObjectUse([], []), options);
    expect(gone.map((f) => f.id)).toEqual(['older']);
  });

  it('tells secrets from configs of the same name', () => {
    const secret = file('s1', 'a_x', 1n, 'a');
    const config = { ...file('c2', 'a_x', 2n, 'a'), kind: FileObjectKind.FILE_OBJECT_KIND_CONFIG };
    const services = [service('web', 'a', {})];
    // Each is the newest of its own kind: neither is superseded.
    expect(collectableFileObjects([secret, config], services, new FileObjectUse(services, []), options)).toEqual([]);
  });
});
