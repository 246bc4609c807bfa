/**
 * Values a stack gets where the file says nothing, as swarm fills them (docker service create's defaults), so a
 * file written for `docker stack deploy` behaves the same on Flotilla.
 */
const SECOND = 1_000_000_000n;

export const DEFAULTS = {
  replicas: 1,
  stopGracePeriodNs: 10n * SECOND,
  restartPolicy: { condition: 'any', delayNs: 5n * SECOND, maxAttempts: 0, windowNs: 0n },
  updateConfig: {
    parallelism: 1,
    delayNs: 0n,
    failureAction: 'pause',
    monitorNs: 5n * SECOND,
    maxFailureRatio: 0,
    order: 'stop-first',
  },
  /** Docker's healthcheck defaults, used where a healthcheck is given without them. */
  healthcheck: { intervalNs: 30n * SECOND, timeoutNs: 30n * SECOND, retries: 3, startPeriodNs: 0n },
  networkDriver: 'overlay',
  volumeDriver: 'local',
  secretsDir: '/run/secrets',
} as const;
