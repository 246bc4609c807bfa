import { TaskState } from '@flotilla/api';
import { loadStackText, toStackSpec } from '@flotilla/stack';
import type { Store } from '@flotilla/store';
import type { HollowNodes } from '@flotilla/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readyHollowNodes, startTestCluster, type TestCluster } from '../test/test-cluster.js';
import type { RunningManager } from './manager.js';

// Addresses, virtual IPs and published ports come from etcd keys created only if absent: a new leader carries
// on from the store and never hands out a value twice, and what ended tasks held is released.
let cluster: TestCluster;
let second: RunningManager | undefined;
let group: HollowNodes;

beforeAll(async () => {
  cluster = await startTestCluster('alloc', { electionTtlSeconds: 2 });
  second = await cluster.joinManager('m2');
  group = await readyHollowNodes(cluster.manager, 3, 'alloc', { startDelayMs: 30 });
});

afterAll(async () => {
  group?.stop();
  await second?.stop();
  await cluster?.stop();
});

const yaml = (replicas: number) =>
  [
    'services:',
    '  web:',
    '    image: app:1',
    '    ports: ["8080:80"]',
    `    deploy: { replicas: ${replicas} }`,
    '    networks: [front, back]',
    '  api:',
    '    image: app:1',
    '    networks: [back]',
    '    deploy: { replicas: 2, endpoint_mode: dnsrr }',
    'networks:',
    '  front: {}',
    '  back: {}',
    '',
  ].join('\n');

async function until<T>(what: string, read: () => Promise<T>, ok: (v: T) => boolean, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await read().catch(() => undefined);
    if (v !== undefined && ok(v)) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${summary(v)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function summary(v: unknown): string {
  const l = v as Awaited<ReturnType<typeof ledger>> | undefined;
  if (!l?.live) return String(v);
  const extra = [...l.keys].filter(([k]) => !l.held.has(k));
  const missing = [...l.held].filter(([k]) => !l.keys.has(k));
  return JSON.stringify({
    live: l.live.map((t) => [
      t.value.serviceName,
      t.value.status?.state,
      t.value.desiredState,
      t.value.status?.message,
    ]),
    extra,
    missing,
    nodes: l.nodes.map((n) => [n.value.status?.state, n.value.status?.message, n.value.status?.address]),
    hollow: group.nodes.map((n) => [n.session.state, n.session.knownManagers()]),
  });
}

/** Every allocation key and who holds it, against what the objects say they hold. */
async function ledger(store: Store) {
  const [tasks, allocations, services, networks, nodes] = await Promise.all([
    store.list('tasks'),
    store.list('allocations'),
    store.list('services'),
    store.list('networks'),
    store.list('nodes'),
  ]);
  const live = tasks.items.filter((t) => (t.value.status?.state ?? 0) < TaskState.TASK_STATE_COMPLETE);
  const held = new Map<string, string>();
  for (const t of live) {
    for (const n of t.value.networks) held.set(`ip~${n.networkId}~${n.address.split('/')[0]}`, `tasks/${t.id}`);
  }
  for (const s of services.items) if (s.value.virtualIp) held.set(`vip~${s.value.virtualIp}`, `services/${s.id}`);
  for (const n of nodes.items) {
    const ingress = networks.items.find((x) => x.value.ingress);
    if (n.value.ingressAddress && ingress) {
      held.set(`ip~${ingress.id}~${n.value.ingressAddress.split('/')[0]}`, `nodes/${n.id}`);
    }
  }
  const keys = new Map(
    allocations.items
      .filter((a) => a.id.startsWith('ip~') || a.id.startsWith('vip~'))
      .map((a) => [a.id, a.value.owner]),
  );
  return { live, held, keys, services: services.items, networks: networks.items, nodes: nodes.items };
}

describe('the allocator across a leader failover', () => {
  it('gives unique addresses before scheduling, carries on under a new leader, and releases what ended', async () => {
    const deploy = (replicas: number) =>
      cluster.rpc(cluster.control.deployStack, {
        stack: toStackSpec(loadStackText(yaml(replicas)).stack, 'al'),
        prune: false,
      });
    await deploy(6);
    const first = await until(
      'every task addressed and running',
      () => ledger(cluster.manager.store),
      (l) => l.live.length === 8 && l.live.every((t) => t.value.status?.state === TaskState.TASK_STATE_RUNNING),
    );
    // web: front, back and ingress; api: back only (dnsrr: no virtual IP).
    const web = first.live.filter((t) => t.value.serviceName === 'al_web');
    expect(web.every((t) => t.value.networks.length === 3)).toBe(true);
    expect(first.services.find((s) => s.value.spec?.annotations?.name === 'al_api')?.value.virtualIp).toBe('');
    expect(first.services.find((s) => s.value.spec?.annotations?.name === 'al_web')?.value.virtualIp).toMatch(
      /^10\.43\./,
    );
    const subnets = first.networks.map((n) => n.value.subnet);
    expect(new Set(subnets).size).toBe(subnets.length);

    // The nodes must know the second manager before the first goes, or they have nowhere to go.
    await until(
      'the nodes know both managers',
      async () => group.nodes.map((n) => n.session.knownManagers().length),
      (ls) => ls.every((l) => l === 2),
    );
    await cluster.manager.stop();
    // The new leader scales up: more addresses, none given twice; then scales down: released.
    const control = second as RunningManager;
    await until(
      'the second manager leads',
      async () => control.controlPlane.leading(),
      (x) => x,
      20_000,
    );
    const { stack } = loadStackText(yaml(12));
    const { deployStack } = await import('./control-api/stacks.js');
    await deployStack(control.store, toStackSpec(stack, 'al'), false);
    const scaled = await until(
      '14 tasks addressed',
      () => ledger(control.store),
      (l) => l.live.filter((t) => t.value.status?.state === TaskState.TASK_STATE_RUNNING).length === 14,
    );
    const addresses = scaled.live.flatMap((t) => t.value.networks.map((n) => `${n.networkId}/${n.address}`));
    expect(new Set(addresses).size).toBe(addresses.length);
    expect(scaled.keys).toEqual(scaled.held);

    await deployStack(control.store, toStackSpec(loadStackText(yaml(2)).stack, 'al'), false);
    const shrunk = await until(
      'released after scaling down',
      () => ledger(control.store),
      (l) => l.live.length === 4 && l.keys.size === l.held.size,
    );
    expect(shrunk.keys).toEqual(shrunk.held);
  });
});
