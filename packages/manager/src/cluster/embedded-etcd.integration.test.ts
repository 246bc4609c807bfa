import { statSync } from 'node:fs';
import path from 'node:path';
import { joinCluster } from '@flotilla/agent';
import { Node, newId } from '@flotilla/api';
import { CLUSTER_KEY, connectEtcd } from '@flotilla/store';
import { makeTestPki } from '@flotilla/testing';
import { afterAll, describe, expect, it } from 'vitest';
import { alive, EmbeddedManagers, type Spot } from '../../test/embedded-managers.js';
import { operatorClient, rpc } from '../../test/test-cluster.js';
import type { RunningManager } from '../manager.js';
import { removeManagerMember } from './etcd-membership.js';

// Managers that bring their own etcd member, in this process, on loopback: real etcd processes started and
// supervised by the managers, client and peer TLS from the cluster CA.
const managers = new EmbeddedManagers('embedded-etcd');
const { dir, spot, start, stop } = managers;

afterAll(() => managers.close());

async function eventually<T>(what: string, probe: () => Promise<T | undefined>, ms = 20_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`${what} did not happen within ${ms / 1000} s`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('a manager with its own etcd member', () => {
  let at: Spot;
  let first: RunningManager;
  /** A worker node's state directory: its certificate is of the cluster CA too. */
  let nodeDir = '';

  it('creates the cluster on it, admits a node, and keeps its data across a restart', async () => {
    at = await spot('single');
    first = await start(at);
    const member = first.embeddedEtcd?.process;
    expect(member?.pid).toBeGreaterThan(0);
    expect(first.embeddedEtcd?.clientUrl).toBe(`https://${at.client}`);
    nodeDir = dir('node');
    const joined = await joinCluster({
      manager: first.address,
      token: first.identity.tokens.worker,
      stateDir: nodeDir,
    });
    expect(await first.store.get('nodes', joined.nodeId)).toBeDefined();
    // The member's key and the data are the manager user's only.
    expect(statSync(path.join(at.stateDir, 'etcd', 'member.key')).mode & 0o777).toBe(0o600);
    expect(statSync(path.join(at.stateDir, 'etcd')).mode & 0o777).toBe(0o700);

    const pid = member?.pid;
    const clusterId = first.identity.clusterId;
    await stop(first);
    expect(alive(pid)).toBe(false);
    first = await start(at);
    expect(first.identity.clusterId).toBe(clusterId);
    expect((await first.store.get('nodes', joined.nodeId))?.value.id).toBe(joined.nodeId);
  });

  it('records itself as an etcd member', async () => {
    expect((await first.store.get('managers', first.identity.nodeId))?.value.etcdMember).toBe(true);
  });

  it("etcd refuses a client without a manager's certificate of the cluster CA", async () => {
    const url = first.embeddedEtcd?.clientUrl as string;
    const etcd = path.join(at.stateDir, 'etcd');
    // The CA alone (TLS, no client certificate), and a certificate of another CA: both refused.
    const noCert = connectEtcd({ endpoints: [url], tls: { caFile: path.join(etcd, 'ca.crt') }, callTimeoutMs: 2_000 });
    const other = makeTestPki(dir('other-ca'));
    const foreign = connectEtcd({
      endpoints: [url],
      tls: { caFile: path.join(etcd, 'ca.crt'), certFile: other.clientCertFile, keyFile: other.clientKeyFile },
      callTimeoutMs: 2_000,
    });
    const plain = connectEtcd({ endpoints: [url.replace('https:', 'http:')], callTimeoutMs: 2_000 });
    // A worker's certificate is of the cluster CA, but names no etcd user: refused too.
    const node = connectEtcd({
      endpoints: [url],
      tls: {
        caFile: path.join(nodeDir, 'ca.crt'),
        certFile: path.join(nodeDir, 'node.crt'),
        keyFile: path.join(nodeDir, 'node.key'),
      },
      callTimeoutMs: 2_000,
    });
    const refused = [noCert, foreign, plain, node];
    try {
      for (const client of refused) await expect(client.getAll().keys()).rejects.toThrow();
      await expect(node.put('/flotilla/x').value('y')).rejects.toThrow(/permission denied|user name/i);
    } finally {
      for (const client of refused) client.close();
    }
    // The member's own certificate is let in, and reads the cluster.
    const own = connectEtcd({
      endpoints: [url],
      tls: {
        caFile: path.join(etcd, 'ca.crt'),
        certFile: path.join(etcd, 'member.crt'),
        keyFile: path.join(etcd, 'member.key'),
      },
    });
    try {
      expect((await own.getAll().keys()).length).toBeGreaterThan(0);
    } finally {
      own.close();
    }
  });

  it('starts its member again when it dies, and goes on serving', async () => {
    const member = first.embeddedEtcd?.process;
    const pid = member?.pid as number;
    process.kill(pid, 'SIGKILL');
    await eventually('a new etcd process', async () => (member?.restarts ? true : undefined));
    expect(member?.pid).not.toBe(pid);
    // Writes go through the new process, and the node joins through the same manager.
    const joined = await eventually('a join', () =>
      joinCluster({ manager: first.address, token: first.identity.tokens.worker, stateDir: dir('node-2') }),
    );
    expect(await first.store.get('nodes', joined.nodeId)).toBeDefined();
    expect((await first.store.get('clusters', CLUSTER_KEY))?.value).toBeInstanceOf(Object);
  });

  it('three managers make a three-member etcd through --join; one demoted takes its member out, and the two left take writes', async () => {
    const spots = [await spot('m2'), await spot('m3')];
    const token = first.identity.tokens.manager;
    const others: RunningManager[] = [];
    for (const s of spots) others.push(await start(s, { manager: first.address, token }));
    const client = connectEtcd({ endpoints: [first.embeddedEtcd?.clientUrl as string], tls: etcdTls(at) });
    try {
      const { members } = await client.cluster.memberList({});
      expect(members.map((m) => m.name).sort()).toEqual([first, ...others].map((m) => m.identity.nodeId).sort());
      expect(members.every((m) => !m.isLearner)).toBe(true);
      // Each manager's store reads through its own member.
      for (const m of others)
        expect((await m.store.get('clusters', CLUSTER_KEY))?.value.id).toBe(first.identity.clusterId);

      const [second, third] = others as [RunningManager, RunningManager];
      const control = operatorClient(first, first.address);
      try {
        await rpc(control, control.demoteNode, { node: third.identity.nodeId });
      } finally {
        control.close();
      }
      // Demoted, it takes its member out (through the others) before whoever runs it stops it.
      await third.demoted;
      expect((await client.cluster.memberList({})).members.map((m) => m.name).sort()).toEqual(
        [first, second].map((m) => m.identity.nodeId).sort(),
      );
      await stop(third);
      // Nothing left to remove.
      expect(await removeManagerMember(client, third.identity.nodeId)).toBe(false);
      // The two left have a quorum: a write through either goes through.
      const id = newId();
      await second.store.create('nodes', id, Node.fromPartial({ id }));
      expect((await first.store.get('nodes', id))?.value.id).toBe(id);
    } finally {
      client.close();
    }
  });
});

describe('a manager whose own etcd member hangs', () => {
  it('goes on through the other members (its store knows them all), and comes back to its own', async () => {
    const managers: RunningManager[] = [];
    for (const label of ['hang-1', 'hang-2', 'hang-3']) {
      const at = await spot(label);
      const first = managers[0];
      managers.push(
        await start(at, first ? { manager: first.address, token: first.identity.tokens.manager } : undefined),
      );
    }
    const [, second] = managers as [RunningManager, RunningManager, RunningManager];
    // Its store tries its own member first, then the two others (learned from the member list).
    await eventually('every member in the list', async () =>
      second.embeddedEtcd?.memberUrls.length === 3 ? true : undefined,
    );
    expect(second.embeddedEtcd?.memberUrls[0]).toBe(second.embeddedEtcd?.clientUrl);
    const pid = second.embeddedEtcd?.process?.pid as number;
    process.kill(pid, 'SIGSTOP');
    try {
      // A stopped process keeps its connections open: keepalive lets go of it, and another member answers.
      const started = Date.now();
      const id = newId();
      await eventually(
        "a write through the hung member's manager",
        () => second.store.create('nodes', id, Node.fromPartial({ id })),
        30_000,
      );
      const tookMs = Date.now() - started;
      expect((await managers[0]?.store.get('nodes', id))?.value.id).toBe(id);
      expect(tookMs).toBeLessThan(25_000);
    } finally {
      process.kill(pid, 'SIGCONT');
    }
    // Its own member back, it still reads and writes.
    const id = newId();
    await eventually('a write once the member is back', () =>
      second.store.create('nodes', id, Node.fromPartial({ id })),
    );
  }, 120_000);
});

function etcdTls(at: Spot) {
  const etcd = path.join(at.stateDir, 'etcd');
  return {
    caFile: path.join(etcd, 'ca.crt'),
    certFile: path.join(etcd, 'member.crt'),
    keyFile: path.join(etcd, 'member.key'),
  };
}
