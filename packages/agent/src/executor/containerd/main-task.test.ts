import { Task } from '@flotilla/api';
import { describe, expect, it } from 'vitest';
import { besideMain } from './main-task.js';

const dir = (id: string) => `/state/containers/${id}`;
const sidecar = (fields: Partial<Task> = {}) =>
  Task.fromPartial({
    id: 'side',
    mainTaskId: 'main',
    sidecar: { service: 'st_web', shareNetwork: true, volumesFrom: [] },
    ...fields,
  });

describe('besideMain', () => {
  it("joins the network namespace of the main container's process, with its /etc files", () => {
    expect(besideMain(sidecar(), (id) => (id === 'main' ? 4242 : undefined), dir)).toEqual({
      netns: '/proc/4242/ns/net',
      etcFiles: {
        hosts: '/state/containers/main/etc/hosts',
        hostname: '/state/containers/main/etc/hostname',
        resolvConf: '/state/containers/main/etc/resolv.conf',
      },
    });
  });

  it('refuses to start while the main task does not run here, rather than give it a namespace of its own', () => {
    expect(() => besideMain(sidecar(), () => undefined, dir)).toThrow(/its main task main is not running on this node/);
  });

  it('leaves alone tasks that share no network, or share the node’s', () => {
    const pid = () => 1;
    expect(besideMain(Task.fromPartial({ id: 'plain' }), pid, dir)).toBeUndefined();
    const volumesOnly = sidecar({ sidecar: { service: 'st_web', shareNetwork: false, volumesFrom: [] } });
    expect(besideMain(volumesOnly, pid, dir)).toBeUndefined();
    expect(besideMain(sidecar({ spec: { hostNetwork: true } as Task['spec'] }), pid, dir)).toBeUndefined();
  });
});
