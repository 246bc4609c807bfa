import { FlotillaError, ListTasksResponse, PortConfig_Protocol, Task, TaskState } from '@flotilla/api';
import { describe, expect, it } from 'vitest';
import { filterTasks, parseTaskFilter } from './task-filter.js';
import { ERROR_WIDTH, formatTaskListing, truncate } from './task-listing.js';

const now = 1_000_000;
const task = (id: string, slot: bigint, nodeId: string, desired: TaskState, error = '') =>
  Task.fromPartial({
    id,
    serviceId: 'svc',
    serviceName: 'web_api',
    slot,
    nodeId,
    desiredState: desired,
    spec: { image: `app:1@sha256:${'ab'.repeat(32)}` },
    status: { state: desired, timestampMs: BigInt(now - 5_000), error },
  });

const response = () =>
  ListTasksResponse.fromPartial({
    tasks: [
      task('t1aaaaaaaaaaaaaaaaaaaaaaa', 1n, 'n1', TaskState.TASK_STATE_RUNNING),
      task(
        't1bbbbbbbbbbbbbbbbbbbbbbb',
        1n,
        'n2',
        TaskState.TASK_STATE_SHUTDOWN,
        'exited with code 137 after the health check failed',
      ),
      task('t2aaaaaaaaaaaaaaaaaaaaaaa', 2n, 'n2', TaskState.TASK_STATE_RUNNING),
      task('t10aaaaaaaaaaaaaaaaaaaaaa', 10n, 'n1', TaskState.TASK_STATE_RUNNING),
    ],
    nodeNames: { n1: 'alpha', n2: 'beta', n3: 'gamma' },
  });

const ids = (filters: string[]) => filterTasks(response(), parseTaskFilter(filters)).tasks.map((t) => t.id.slice(0, 3));

describe('service ps --filter', () => {
  it('keeps every task without a filter', () => {
    expect(ids([])).toEqual(['t1a', 't1b', 't2a', 't10']);
  });

  it('ORs the values of one key', () => {
    expect(ids(['desired-state=shutdown'])).toEqual(['t1b']);
    expect(ids(['desired-state=running', 'desired-state=shutdown'])).toEqual(['t1a', 't1b', 't2a', 't10']);
    expect(ids(['node=alpha', 'node=n2'])).toEqual(['t1a', 't1b', 't2a', 't10']);
  });

  it('ANDs different keys', () => {
    expect(ids(['desired-state=running', 'node=beta'])).toEqual(['t2a']);
    expect(ids(['node=beta', 'name=web_api.1'])).toEqual(['t1b']);
    // What must not happen: a key widening what another narrowed.
    expect(ids(['desired-state=shutdown', 'node=alpha'])).toEqual([]);
  });

  it("matches the start of a task's docker name (SERVICE.SLOT.ID), as docker does", () => {
    expect(ids(['name=web_api.1'])).toEqual(['t1a', 't1b', 't10']);
    expect(ids(['name=web_api.1.t1b'])).toEqual(['t1b']);
    expect(ids(['name=api'])).toEqual([]);
  });

  it('takes a node by ID or hostname, and a node with no tasks gives none', () => {
    expect(ids(['node=n1'])).toEqual(['t1a', 't10']);
    expect(ids(['node=gamma'])).toEqual([]);
  });

  it('refuses an unknown node, key or desired state, saying what works', () => {
    const refusal = (filters: string[]) => {
      try {
        ids(filters);
      } catch (e) {
        return e instanceof FlotillaError ? e.message : String(e);
      }
      return 'accepted';
    };
    expect(refusal(['node=delta'])).toMatch(/no node "delta": see flotilla node ls/);
    expect(refusal(['label=x'])).toMatch(/unknown key "label": use desired-state, node, name/);
    expect(refusal(['desired-state=sleeping'])).toMatch(/"sleeping" is not a desired state: use running, shutdown/);
    expect(refusal(['name'])).toMatch(/--filter takes KEY=VALUE/);
    expect(refusal(['node='])).toMatch(/--filter takes KEY=VALUE/);
    expect(refusal(['desired-state=Running'])).toBe('accepted');
  });
});

describe('task listing', () => {
  it("has docker's columns, truncated IDs, images and errors by default", () => {
    const out = formatTaskListing(response(), { format: 'table', now });
    expect(out.split('\n')[0]).toMatch(/^ID\s+NAME\s+IMAGE\s+NODE\s+DESIRED STATE\s+CURRENT STATE\s+ERROR\s+PORTS$/);
    expect(out).toContain('t1aaaaaaaaaa ');
    expect(out).not.toContain('t1aaaaaaaaaaa');
    expect(out).toContain(`app:1@sha256:${'ab'.repeat(6)} `);
    expect(out).toContain(' \\_ web_api.1');
    expect(out).toContain(`${'exited with code 137 after the health check failed'.slice(0, ERROR_WIDTH - 1)}\u2026`);
    expect(out).not.toContain('health check failed');
  });

  it('shows IDs, images and errors whole with --no-trunc', () => {
    const out = formatTaskListing(response(), { format: 'table', noTrunc: true, now });
    expect(out).toContain('t1aaaaaaaaaaaaaaaaaaaaaaa');
    expect(out).toContain(`app:1@sha256:${'ab'.repeat(32)}`);
    expect(out).toContain('exited with code 137 after the health check failed');
    expect(out).not.toContain('\u2026');
  });

  it('prints only IDs with -q, short or whole', () => {
    expect(formatTaskListing(response(), { format: 'table', quiet: true })).toBe(
      't1aaaaaaaaaa\nt1bbbbbbbbbb\nt2aaaaaaaaaa\nt10aaaaaaaaa\n',
    );
    const whole = formatTaskListing(response(), { format: 'table', quiet: true, noTrunc: true });
    expect(whole.split('\n')[0]).toBe('t1aaaaaaaaaaaaaaaaaaaaaaa');
  });

  it("shows a task's host-mode ports in docker's form", () => {
    const r = response();
    r.tasks[0]!.hostPorts = [
      {
        name: '',
        protocol: PortConfig_Protocol.PROTOCOL_UDP,
        targetPort: 53,
        publishedPort: 5353,
        publishMode: 2,
        hostIp: '',
      },
      {
        name: '',
        protocol: PortConfig_Protocol.PROTOCOL_UNSPECIFIED,
        targetPort: 80,
        publishedPort: 8080,
        publishMode: 2,
        hostIp: '127.0.0.1',
      },
    ];
    expect(formatTaskListing(r, { format: 'table', now })).toMatch(/\*:5353->53\/udp, 127\.0\.0\.1:8080->80\/tcp\n/);
  });

  it('keeps the JSON of the listings, whatever the options', () => {
    const json = JSON.parse(formatTaskListing(response(), { format: 'json', quiet: true, noTrunc: false }));
    expect(json).toHaveLength(4);
    expect(json[0]).toMatchObject({ ID: 't1aaaaaaaaaaaaaaaaaaaaaaa', DesiredState: 'running' });
  });

  it('cuts a long error to one line of the width, and leaves a short one alone', () => {
    expect(truncate('short', 30)).toBe('short');
    expect(truncate('a\n  b', 30)).toBe('a b');
    expect(truncate('x'.repeat(31), 30)).toHaveLength(30);
  });
});
