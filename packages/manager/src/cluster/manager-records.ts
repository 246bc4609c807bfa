import { Code, FlotillaError, type Manager } from '@flotilla/api';
import type { Store, Versioned } from '@flotilla/store';
import { withoutSecrets } from './promotions.js';

/**
 * Records this manager in the store at its start (created, or its address and host name brought up to date), so
 * that `node ls` lists it even while it is down. A demoted manager is not started again on the same state
 * directory: it left the control plane, and its certificate and etcd membership went with it.
 */
export async function recordManager(
  store: Store,
  self: { id: string; hostname: string; address: string; etcdMember: boolean },
  now = Date.now(),
): Promise<Manager> {
  const at = BigInt(now);
  const existing = await store.get('managers', self.id);
  if (existing?.value.demoted) {
    throw new FlotillaError(
      Code.FailedPrecondition,
      `manager ${self.id} was demoted and left the control plane: to make this host a manager again, start it with ` +
        'a new --state-dir and --join MANAGER:PORT --token TOKEN (flotilla join-token manager)',
    );
  }
  // A promoted node's manager keeps the node's link and name (its record was made by the promotion).
  const nodeId = existing?.value.nodeId ?? '';
  const value: Manager = {
    id: self.id,
    hostname: nodeId ? (existing?.value.hostname ?? self.hostname) : self.hostname,
    address: self.address,
    createdAtMs: existing?.value.createdAtMs || at,
    updatedAtMs: at,
    demoted: false,
    etcdMember: self.etcdMember,
    nodeId,
    promotionSecretHash: '',
    promotionExpiresAtMs: 0n,
  };
  if (!existing) {
    await store.create('managers', self.id, value);
    return value;
  }
  const updated = await store.modify('managers', self.id, (m) => ({ ...value, demoted: m.demoted }));
  return updated?.value ?? value;
}

/** What `node ls` says of each manager, read from the records and the election's candidates. */
export interface ManagerState {
  manager: Manager;
  leader: boolean;
  reachable: boolean;
}

/** The managers, the leader first, then the reachable ones, then the rest; demoted ones are left out. */
export function managerStates(
  records: readonly Versioned<Manager>[],
  live: { leaderId: string | undefined; candidateIds: ReadonlySet<string> },
): ManagerState[] {
  const states = records
    .filter((r) => !r.value.demoted)
    .map((r) => ({
      manager: withoutSecrets(r.value),
      leader: r.id === live.leaderId,
      reachable: live.candidateIds.has(r.id),
    }));
  const rank = (s: ManagerState) => (s.leader ? 0 : s.reachable ? 1 : 2);
  return states.sort((a, b) => rank(a) - rank(b) || a.manager.hostname.localeCompare(b.manager.hostname));
}

/**
 * What Swarm says of a manager count without fault tolerance. With etcd members on the managers, the store needs
 * a majority of them: 1 or 2 tolerate no loss, and an even count tolerates no more than the odd count below it.
 * With an external etcd, managers only elect a leader, and any one left can lead: only a single manager is a risk.
 */
export function managerCountWarnings(managers: readonly Manager[]): string[] {
  const count = managers.filter((m) => !m.demoted).length;
  if (count === 0) return [];
  const members = managers.filter((m) => !m.demoted && m.etcdMember).length;
  if (count === 1) {
    return [
      'the cluster has one manager: if it is lost, nothing can be deployed or rescheduled until it is back (tasks ' +
        'keep running); add two more (flotilla join-token manager) so that one can fail',
    ];
  }
  if (members === 2) {
    return [
      "2 managers run the cluster's etcd: losing either stops the store, so they tolerate no failure; add a third " +
        '(flotilla join-token manager)',
    ];
  }
  if (members > 2 && members % 2 === 0) {
    return [
      `${members} managers run the cluster's etcd: an even count tolerates no more failures (${members / 2 - 1}) ` +
        `than ${members - 1} would; add or demote one to make the count odd`,
    ];
  }
  return [];
}
