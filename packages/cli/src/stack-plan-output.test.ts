import {
  PlannedService_Action as A,
  PlannedFileObject_Action as F,
  FileObjectKind,
  PlannedService,
  PlannedService_Tasks as T,
} from '@flotilla/api';
import { describe, expect, it } from 'vitest';
import { formatPlan } from './stack-plan-output.js';

const node = (hostname: string, tasks: number) => ({ nodeId: `id-${hostname}`, hostname, tasks });

const plan = {
  services: [
    PlannedService.fromPartial({
      name: 'web_api',
      action: A.ACTION_CREATE,
      tasks: T.TASKS_NONE,
      specVersionAfter: 1n,
      replicasAfter: 5n,
      placed: [node('node-1', 2), node('node-2', 1)],
      pending: [{ tasks: 2, reason: 'no suitable node (insufficient memory on 3 nodes)' }],
    }),
    PlannedService.fromPartial({
      name: 'web_front',
      id: 'f1',
      action: A.ACTION_UPDATE,
      tasks: T.TASKS_REPLACED,
      specVersionBefore: 2n,
      specVersionAfter: 3n,
      replicasBefore: 2n,
      replicasAfter: 2n,
      changes: [
        { path: 'container.image', before: 'nginx:1.25', after: 'nginx:1.27' },
        { path: 'container.env[MODE]', after: 'prod' },
        { path: 'container.env[EMPTY]', before: '' },
      ],
    }),
    PlannedService.fromPartial({
      name: 'web_worker',
      id: 'w1',
      action: A.ACTION_UPDATE,
      tasks: T.TASKS_SCALED,
      specVersionBefore: 1n,
      specVersionAfter: 1n,
      replicasBefore: 2n,
      replicasAfter: 5n,
      changes: [{ path: 'replicas', before: '2', after: '5' }],
      placed: [node('node-3', 3)],
    }),
    PlannedService.fromPartial({ name: 'web_old', id: 'o1', action: A.ACTION_REMOVE, tasks: T.TASKS_NONE }),
    PlannedService.fromPartial({ name: 'web_db', id: 'd1', action: A.ACTION_UNCHANGED, tasks: T.TASKS_NONE }),
  ],
  fileObjects: [],
};

describe('formatPlan', () => {
  it('prints one line per service, the diff under each update, and what stays pending', () => {
    expect(formatPlan('web', plan, 'text')).toBe(
      [
        'Plan for stack web (nothing was changed):',
        '  + web_api     create   5 tasks: node-1 ×2, node-2 ×1, 2 pending',
        '  ~ web_front   update   tasks replaced (spec version 2 → 3)',
        '      container.image: nginx:1.25 → nginx:1.27',
        '      container.env[MODE]: (unset) → prod',
        '      container.env[EMPTY]: "" → (unset)',
        '  ~ web_worker  update   scaled 2 → 5 (no task replaced): node-3 ×3',
        '      replicas: 2 → 5',
        '  - web_old     remove   (--prune)',
        '  = web_db      unchanged',
        '2 tasks would stay pending: web_api: no suitable node (insufficient memory on 3 nodes)',
        '',
      ].join('\n'),
    );
  });

  it("says no task is replaced for an update of the service's labels or update settings alone", () => {
    const labels = {
      services: [
        PlannedService.fromPartial({
          name: 'a_web',
          action: A.ACTION_UPDATE,
          tasks: T.TASKS_NONE,
          specVersionBefore: 4n,
          specVersionAfter: 4n,
          replicasBefore: 2n,
          replicasAfter: 2n,
          changes: [{ path: 'annotations.labels[team]', before: 'a', after: 'b' }],
        }),
      ],
      fileObjects: [],
    };
    expect(formatPlan('a', labels, 'text')).toBe(
      [
        'Plan for stack a (nothing was changed):',
        '  ~ a_web  update   labels or update settings only (no task replaced)',
        '      annotations.labels[team]: a → b',
        '',
      ].join('\n'),
    );
  });

  it('lists pending tasks per service and reason when there are several', () => {
    const two = {
      services: [
        PlannedService.fromPartial({
          name: 'a_x',
          action: A.ACTION_CREATE,
          pending: [
            { tasks: 1, reason: 'r1' },
            { tasks: 2, reason: 'r2' },
          ],
          replicasAfter: 3n,
        }),
        PlannedService.fromPartial({ name: 'a_g', action: A.ACTION_CREATE, placed: [node('n1', 1)] }),
      ],
      fileObjects: [],
    };
    expect(formatPlan('a', two, 'text')).toBe(
      [
        'Plan for stack a (nothing was changed):',
        '  + a_x  create   3 tasks: 3 pending',
        '  + a_g  create   global, 1 task: n1 ×1',
        '3 tasks would stay pending:',
        '  a_x ×1: r1',
        '  a_x ×2: r2',
        '',
      ].join('\n'),
    );
  });

  it('says which secrets and configs get a new version and which services that rolls, never a content', () => {
    const SECRET = FileObjectKind.FILE_OBJECT_KIND_SECRET;
    const CONFIG = FileObjectKind.FILE_OBJECT_KIND_CONFIG;
    const objects = {
      services: [
        PlannedService.fromPartial({
          name: 'shop_db',
          id: 'd1',
          action: A.ACTION_UPDATE,
          tasks: T.TASKS_REPLACED,
          specVersionBefore: 1n,
          specVersionAfter: 2n,
          changes: [
            {
              path: 'container.secrets[/run/secrets/db_password].object_id',
              before: 'shop_db_password version 2',
              after: 'shop_db_password version 3',
            },
          ],
        }),
      ],
      fileObjects: [
        {
          kind: SECRET,
          name: 'shop_db_password',
          action: F.ACTION_NEW_VERSION,
          versionBefore: 2n,
          versionAfter: 3n,
          services: ['shop_db'],
        },
        {
          kind: CONFIG,
          name: 'shop_db_conf',
          action: F.ACTION_UNCHANGED,
          versionBefore: 1n,
          versionAfter: 1n,
          services: ['shop_db'],
        },
        {
          kind: SECRET,
          name: 'shop_api_key',
          action: F.ACTION_CREATE,
          versionBefore: 0n,
          versionAfter: 1n,
          services: [],
        },
        {
          kind: SECRET,
          name: 'shared_tls',
          action: F.ACTION_EXTERNAL,
          versionBefore: 4n,
          versionAfter: 4n,
          services: ['shop_db'],
        },
      ],
    };
    expect(formatPlan('shop', objects, 'text')).toBe(
      [
        'Plan for stack shop (nothing was changed):',
        '  ~ shop_db  update   tasks replaced (spec version 1 → 2)',
        '      container.secrets[/run/secrets/db_password].object_id: shop_db_password version 2 → shop_db_password version 3',
        'Secrets and configs:',
        '  ~ secret db_password: new version 3 (content changed), rolls shop_db',
        '  = config db_conf: version 1 (unchanged)',
        '  + secret api_key: version 1 (new), used by no service',
        '  = secret shared_tls: external, version 4, used by shop_db',
        '',
      ].join('\n'),
    );
  });

  it('prints the response as JSON, enums by name', () => {
    const json = JSON.parse(formatPlan('web', plan, 'json'));
    expect(json.services[0]).toMatchObject({ name: 'web_api', action: 'ACTION_CREATE', replicasAfter: '5' });
    expect(json.services[1].changes[0]).toEqual({ path: 'container.image', before: 'nginx:1.25', after: 'nginx:1.27' });
  });
});
