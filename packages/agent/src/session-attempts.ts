/** An attempt to open a session that has had no answer yet, as the choice of the next one sees it. */
export interface AttemptView {
  address: string;
  /** How long since it started. */
  ageMs: number;
  /** Its connection is up (TCP and TLS): the manager is there, only slow to answer (a leader starting its term). */
  transportUp: boolean;
}

export interface NextAttemptInput {
  /** The attempts under way (none answered yet). */
  attempts: readonly AttemptView[];
  /** The managers known, in the order they are tried. */
  managers: readonly string[];
  /** Where in `managers` the rotation goes on. */
  next: number;
  /** How long an attempt without a connection is waited for alone before another manager is tried beside it. */
  graceMs: number;
}

/** Another attempt to make beside those under way: the manager's address, and where the rotation goes on after. */
export interface NextAttempt {
  address: string;
  next: number;
}

/**
 * Whether to try another manager beside the attempts under way, and which. An attempt is never given up early
 * (a manager that is there but slow, as a leader starting its term or a manager starting again, is waited for
 * as long as gRPC waits); but a manager whose host is gone holds an attempt for gRPC's connect timeout (20 s),
 * so while no attempt has a connection and the latest is older than the grace, the next manager of the
 * rotation that is not already being tried is tried too. The first to open a session wins.
 */
export function nextAttempt(input: NextAttemptInput): NextAttempt | undefined {
  const { attempts, managers, graceMs } = input;
  if (managers.length === 0) return undefined;
  if (attempts.some((a) => a.transportUp)) return undefined;
  if (attempts.some((a) => a.ageMs < graceMs)) return undefined;
  const trying = new Set(attempts.map((a) => a.address));
  for (let i = 0; i < managers.length; i++) {
    const index = (input.next + i) % managers.length;
    const address = managers[index] as string;
    if (!trying.has(address)) return { address, next: index + 1 };
  }
  return undefined;
}

/**
 * Whether the leader a manager named in its refusal is worth an attempt now: a different manager than the one
 * that refused, and not one being tried already (its attempt, slow or not, goes on).
 */
export function leaderAttempt(
  leader: string | undefined,
  refusedBy: string,
  attempts: readonly Pick<AttemptView, 'address'>[],
): string | undefined {
  if (!leader || leader === refusedBy) return undefined;
  return attempts.some((a) => a.address === leader) ? undefined : leader;
}
