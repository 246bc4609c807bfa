import { randomBytes } from 'node:crypto';
import { type SessionResponse, Task, TaskState } from '@flotilla/api';
import { describe, expect, it } from 'vitest';
import { type FileSource, MAX_FILE_BYTES_PER_MESSAGE, SessionFiles } from './session-files.js';

function task(id: string, secrets: string[], configs: string[] = [], extra: Partial<Task> = {}): Task {
  return Task.fromPartial({
    id,
    nodeId: 'n1',
    desiredState: TaskState.TASK_STATE_RUNNING,
    status: { state: TaskState.TASK_STATE_ASSIGNED },
    spec: {
      image: 'app',
      secrets: secrets.map((objectId) => ({ source: `s_${objectId}`, objectId })),
      configs: configs.map((objectId) => ({ source: `c_${objectId}`, target: '/etc/app.conf', objectId })),
    },
    ...extra,
  });
}

/** A source knowing these contents; counts what it was asked. */
function source(contents: Record<string, string | Buffer>): FileSource & { asked: string[] } {
  const asked: string[] = [];
  const fn = ((id: string) => {
    asked.push(id);
    const c = contents[id];
    return c === undefined ? undefined : Buffer.from(c);
  }) as FileSource & { asked: string[] };
  fn.asked = asked;
  return fn;
}

const sent = (messages: SessionResponse[]) =>
  messages.flatMap((m) => m.assignments?.files ?? []).map((f) => [f.objectId, Buffer.from(f.data).toString()]);
const tasksOf = (messages: SessionResponse[]) => messages.flatMap((m) => m.assignments?.tasks ?? []).map((t) => t.id);

describe('the contents a session sends', () => {
  it('sends each content once per session, with the first task that uses it, and all again in a full set', () => {
    const files = new SessionFiles();
    const src = source({ o1: 'one', o2: 'two' });
    const first = files.deliver({ full: true, tasks: [task('a', ['o1'])], removed: [] }, src);
    expect(sent(first.messages)).toEqual([['o1', 'one']]);
    const second = files.deliver({ full: false, tasks: [task('b', ['o1'], ['o2'])], removed: [] }, src);
    expect(sent(second.messages)).toEqual([['o2', 'two']]);
    expect(tasksOf(second.messages)).toEqual(['b']);
    expect(files.holding()).toEqual(['o1', 'o2']);
    // The same tasks again (a change to them): nothing sent again.
    expect(sent(files.deliver({ full: false, tasks: [task('a', ['o1'])], removed: [] }, src).messages)).toEqual([]);
    // A full set (new session, or after falling behind) carries everything its tasks use.
    const full = files.deliver({ full: true, tasks: [task('a', ['o1']), task('b', ['o1'], ['o2'])], removed: [] }, src);
    expect(sent(full.messages)).toEqual([
      ['o1', 'one'],
      ['o2', 'two'],
    ]);
  });

  it('a task without secrets or configs carries none, and the source is not asked', () => {
    const files = new SessionFiles();
    const src = source({ o1: 'one' });
    const { messages } = files.deliver({ full: true, tasks: [task('plain', [])], removed: [] }, src);
    expect(messages).toHaveLength(1);
    expect(messages[0]?.assignments?.files).toEqual([]);
    expect(src.asked).toEqual([]);
  });

  it('forgets what the agent drops: once no task uses a version, a later task gets its content again', () => {
    const files = new SessionFiles();
    const src = source({ o1: 'one' });
    files.deliver({ full: true, tasks: [task('a', ['o1']), task('b', ['o1'])], removed: [] }, src);
    files.deliver({ full: false, tasks: [], removed: ['a'] }, src);
    // b still uses it.
    expect(files.holding()).toEqual(['o1']);
    files.deliver({ full: false, tasks: [], removed: ['b'] }, src);
    expect(files.holding()).toEqual([]);
    const again = files.deliver({ full: false, tasks: [task('c', ['o1'])], removed: [] }, src);
    expect(sent(again.messages)).toEqual([['o1', 'one']]);
  });

  it('holds back a task to run whose version is not known, and sends it with its content once it is', () => {
    const files = new SessionFiles();
    const contents: Record<string, string> = {};
    const src = source(contents);
    const held = files.deliver({ full: false, tasks: [task('a', ['o1'])], removed: [] }, src);
    expect(held.messages).toEqual([]);
    expect(held.heldBack).toEqual([{ taskId: 'a', objectIds: ['o1'] }]);
    expect(files.heldBack()).toEqual(['a']);
    expect(files.holding()).toEqual([]);
    contents.o1 = 'one';
    const later = files.deliver({ full: false, tasks: [task('a', ['o1'])], removed: [] }, src);
    expect(tasksOf(later.messages)).toEqual(['a']);
    expect(sent(later.messages)).toEqual([['o1', 'one']]);
    expect(files.heldBack()).toEqual([]);
  });

  it('sends a task that is to stop, or already runs, without any content: it needs none, known or not', () => {
    const files = new SessionFiles();
    const src = source({ o1: 'one' });
    const stopping = task('s', ['gone'], [], { desiredState: TaskState.TASK_STATE_SHUTDOWN });
    const running = task('r', ['o1'], [], { status: { state: TaskState.TASK_STATE_RUNNING } as Task['status'] });
    const { messages, heldBack } = files.deliver({ full: true, tasks: [stopping, running], removed: [] }, src);
    expect(tasksOf(messages)).toEqual(['s', 'r']);
    expect(sent(messages)).toEqual([]);
    expect(src.asked).toEqual([]);
    expect(heldBack).toEqual([]);
    // A task that is to start gets it, as it would have without the others.
    expect(sent(files.deliver({ full: false, tasks: [task('new', ['o1'])], removed: [] }, src).messages)).toEqual([
      ['o1', 'one'],
    ]);
  });

  it('a held-back task moved away or deleted is no longer waited for', () => {
    const files = new SessionFiles();
    files.deliver({ full: false, tasks: [task('a', ['o1'])], removed: [] }, source({}));
    files.deliver({ full: false, tasks: [], removed: ['a'] }, source({}));
    expect(files.heldBack()).toEqual([]);
  });

  it('spreads contents over messages of at most the cap, the tasks last (after every content they need)', () => {
    const files = new SessionFiles();
    const size = Math.floor(MAX_FILE_BYTES_PER_MESSAGE / 3) + 1;
    const contents: Record<string, Buffer> = {};
    const ids = ['o1', 'o2', 'o3', 'o4', 'o5'];
    for (const id of ids) contents[id] = randomBytes(size);
    const { messages } = files.deliver({ full: true, tasks: [task('a', ids)], removed: [] }, source(contents));
    expect(messages.length).toBeGreaterThan(1);
    for (const m of messages) {
      const bytes = (m.assignments?.files ?? []).reduce((n, f) => n + f.data.length, 0);
      expect(bytes).toBeLessThanOrEqual(MAX_FILE_BYTES_PER_MESSAGE);
    }
    // Only the last says the set (full, its tasks); those before carry files only, and are not full sets.
    expect(messages.slice(0, -1).every((m) => !m.assignments?.full && m.assignments?.tasks.length === 0)).toBe(true);
    expect(messages.at(-1)?.assignments).toMatchObject({ full: true });
    expect(tasksOf(messages)).toEqual(['a']);
    expect(
      messages
        .flatMap((m) => m.assignments?.files ?? [])
        .map((f) => f.objectId)
        .sort(),
    ).toEqual(ids);
  });
});
