import type { NetnsCluster } from './netns-cluster.js';

/**
 * The task IDs of the containers each host's containerd runs now, by host name, read from the runtimes (a read
 * that fails is tried once more); hosts whose runtime could not be read are named in `unread`.
 */
export async function runtimeSample(cluster: NetnsCluster): Promise<Omit<RuntimeSample, 'at'>> {
  const read = (n: NetnsCluster['nodes'][number]) => n.ctr(['task', 'ls'], 10_000);
  const lists = await Promise.all(
    cluster.nodes.map(async (n) => {
      const out = await read(n).catch(() => read(n).catch(() => undefined));
      const ids = (out ?? '')
        .split('\n')
        .slice(1)
        .map((l) => l.trim().split(/\s+/))
        .filter((cols) => cols[2] === 'RUNNING')
        .map((cols) => cols[0] as string);
      return { host: n.host.name, ids, read: out !== undefined };
    }),
  );
  return {
    running: lists.flatMap((l) => l.ids),
    byHost: Object.fromEntries(lists.map((l) => [l.host, l.ids])),
    unread: lists.filter((l) => !l.read).map((l) => l.host),
  };
}

/** One look at every runtime: when, which task IDs ran, and where. */
export interface RuntimeSample {
  at: number;
  running: string[];
  byHost: Record<string, string[]>;
  /** Hosts whose runtime did not answer (twice): the sample says nothing of them. */
  unread: string[];
}

/** The samples that read every host's runtime. */
export function completeSamples(samples: readonly RuntimeSample[]): RuntimeSample[] {
  return samples.filter((s) => s.unread.length === 0);
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
      samples.push({ at, ...(await runtimeSample(cluster)) });
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

/**
 * Where a slot ran twice: for each sample that showed two containers of one slot at once, when (ms after the
 * first sample), the slot, and the task IDs with their hosts. Empty: no slot ever ran twice.
 */
export function slotsRunTwice(samples: readonly RuntimeSample[], slotOf: ReadonlyMap<string, string>): string[] {
  const start = samples[0]?.at ?? 0;
  const found: string[] = [];
  for (const sample of samples) {
    const perSlot = new Map<string, string[]>();
    for (const [host, ids] of Object.entries(sample.byHost)) {
      for (const id of ids) {
        const slot = slotOf.get(id) ?? `unknown ${id}`;
        perSlot.set(slot, [...(perSlot.get(slot) ?? []), `${id} on ${host}`]);
      }
    }
    for (const [slot, where] of perSlot) {
      if (where.length > 1) found.push(`+${sample.at - start} ms, slot ${slot}: ${where.join(', ')}`);
    }
  }
  return found;
}

/**
 * Where the given tasks did not all run: for each sample that read every runtime and missed some of them, when
 * (ms after the first sample) and which. Also says so when fewer than 4 samples in 5 read every runtime (too few
 * witnesses). Empty: they ran throughout.
 */
export function gapsIn(samples: readonly RuntimeSample[], taskIds: readonly string[]): string[] {
  const start = samples[0]?.at ?? 0;
  const complete = completeSamples(samples);
  const gaps = complete.flatMap((s) => {
    const missing = taskIds.filter((id) => !s.running.includes(id));
    return missing.length > 0 ? [`+${s.at - start} ms: not running ${missing.join(', ')}`] : [];
  });
  if (complete.length * 5 < samples.length * 4) {
    gaps.push(`only ${complete.length} of ${samples.length} samples read every runtime`);
  }
  return gaps;
}
