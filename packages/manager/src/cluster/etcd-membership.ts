import { Code, FlotillaError } from '@flotilla/api';
import type { Etcd3, IMember } from 'etcd3';

/**
 * A new member's place in the etcd cluster, made through `client` (a client of the existing members): added as a
 * learner, which does not count towards the quorum until it is promoted, so a member that fails to start cannot
 * take the cluster's quorum with it. A learner with this peer URL left by an earlier try that never started is
 * taken over. Returns its ID and the `--initial-cluster` it starts with.
 */
export async function addLearner(
  client: Etcd3,
  name: string,
  peerUrl: string,
  timeoutMs = 30_000,
): Promise<{ id: string; initialCluster: string }> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await addOnce(client, name, peerUrl);
    } catch (err) {
      // etcd takes no new member until the leader has heard every voter for a while (a member that just joined);
      // a member that does not answer is passed over on the next try (the list shows what went through).
      const again = /unhealthy cluster|not enough started members|unavailable|deadline/i.test((err as Error).message);
      if (!again || Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}

async function addOnce(client: Etcd3, name: string, peerUrl: string): Promise<{ id: string; initialCluster: string }> {
  const { members } = await client.cluster.memberList({});
  const earlier = members.find((m) => m.peerURLs.includes(peerUrl));
  if (earlier && earlier.name !== '' && earlier.name !== name) {
    throw new FlotillaError(
      Code.AlreadyExists,
      `etcd member ${earlier.name} already has the peer address ${peerUrl}: give this manager another --etcd-listen-peer`,
    );
  }
  const added = earlier ?? (await client.cluster.memberAdd({ peerURLs: [peerUrl], isLearner: true })).member;
  const all = earlier ? members : [...members.filter((m) => m.ID !== added.ID), added];
  const initialCluster = all
    .flatMap((m) => m.peerURLs.map((url) => `${m.ID === added.ID ? name : m.name}=${url}`))
    .join(',');
  return { id: added.ID, initialCluster };
}

/**
 * Makes a started learner a voting member. etcd refuses until the learner has caught up with the leader's log,
 * so this asks again until it is, or `timeoutMs` has passed.
 */
export async function promoteLearner(client: Etcd3, id: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await client.cluster.memberPromote({ ID: id });
      return;
    } catch (err) {
      // Already a voter: an earlier try went through.
      if (/not a learner/i.test((err as Error).message)) return;
      if (Date.now() > deadline) {
        throw new FlotillaError(
          Code.DeadlineExceeded,
          `the new etcd member did not catch up with the cluster within ${timeoutMs / 1000} s: ${(err as Error).message}`,
        );
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

/**
 * Removes a manager's etcd member (named by the manager's node ID), as `node demote` and `node rm` of a manager
 * do: a member that is gone for good would otherwise count towards the quorum forever. Call it through any
 * manager's etcd client, before the manager's host is wiped; true when there was such a member.
 */
export async function removeManagerMember(client: Etcd3, nodeId: string): Promise<boolean> {
  const { members } = await client.cluster.memberList({});
  const member = members.find((m) => m.name === nodeId);
  if (!member) return false;
  if (members.length === 1) {
    throw new FlotillaError(
      Code.FailedPrecondition,
      `manager ${nodeId} holds the last etcd member: removing it would end the cluster`,
    );
  }
  await client.cluster.memberRemove({ ID: member.ID });
  return true;
}

/** The client URLs of the voting members that have started: where a joining manager adds its member. */
export async function memberClientUrls(client: Etcd3): Promise<string[]> {
  const { members } = await client.cluster.memberList({});
  return members.filter((m) => started(m) && !m.isLearner).flatMap((m) => m.clientURLs);
}

/** A member that has started once has a name (one only added has none yet). */
function started(member: IMember): boolean {
  return member.name !== '';
}
