import type { NetnsCluster } from '@flotilla/testing';

/** The task IDs of the containers each host's containerd runs now, by host name, read from the runtimes. */
export async function runtimeSample(cluster: NetnsCluster): Promise<Record<string, string[]>> {
  const lists = await Promise.all(
    cluster.nodes.map(async (n) => {
      const out = await n.ctr(['task', 'ls'], 10_000).catch(() => '');
      const ids = out
        .split('\n')
        .slice(1)
        .map((l) => l.trim().split(/\s+/))
        .filter((cols) => cols[2] === 'RUNNING')
        .map((cols) => cols[0] as string);
      return [n.host.name, ids] as const;
    }),
  );
  return Object.fromEntries(lists);
}

/** One look at every runtime: when, which task IDs ran, and where. */
export interface RuntimeSample {
  at: number;
  running: string[];
  byHost: Record<string, string[]>;
}

/**
 * Runs `during` while sampling the runtimes every `everyMs` (the control API may be away, so the runtimes are
 * the witnesses); returns its result and the samples.
 */
export async function sampled<T>(
  cluster: NetnsCluster,
  during: () => Promise<T>,
  everyMs = 1_000,
): Promise<{ result: T; samples: RuntimeSample[] }> {
  const samples: RuntimeSample[] = [];
  let stop = false;
  const sampler = (async () => {
    while (!stop) {
      const at = Date.now();
      const byHost = await runtimeSample(cluster);
      samples.push({ at, running: Object.values(byHost).flat(), byHost });
      await new Promise((r) => setTimeout(r, everyMs));
    }
  })();
  try {
    return { result: await during(), samples };
  } finally {
    stop = true;
    await sampler;
  }
}

/**
 * The most containers any one slot had running at once in any sample, given each task's slot (tasks the cluster
 * does not know count as a slot of their own). 1 means no slot ever ran twice.
 */
export function mostPerSlot(samples: readonly RuntimeSample[], slotOf: ReadonlyMap<string, string>): number {
  let most = 0;
  for (const sample of samples) {
    const perSlot = new Map<string, number>();
    for (const id of sample.running) {
      const slot = slotOf.get(id) ?? `unknown ${id}`;
      perSlot.set(slot, (perSlot.get(slot) ?? 0) + 1);
    }
    most = Math.max(most, ...perSlot.values());
  }
  return most;
}
