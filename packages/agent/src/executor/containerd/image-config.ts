import { HealthCheck } from '@flotilla/api';

/** The parts of an OCI image config a container starts from. */
export interface ImageConfig {
  Entrypoint?: string[] | null;
  Cmd?: string[] | null;
  Env?: string[] | null;
  WorkingDir?: string;
  User?: string;
  StopSignal?: string;
  /** The image's HEALTHCHECK: durations in nanoseconds, as Docker writes them. */
  Healthcheck?: { Test?: string[]; Interval?: number; Timeout?: number; Retries?: number; StartPeriod?: number };
}

/** Docker's HEALTHCHECK from an image config, in the cluster's terms. */
export function imageHealthcheck(config: ImageConfig): { imageHealthcheck?: HealthCheck } {
  const h = config.Healthcheck;
  if (!h?.Test || h.Test.length === 0 || h.Test[0] === 'NONE') return {};
  return {
    imageHealthcheck: HealthCheck.fromPartial({
      test: h.Test,
      intervalNs: BigInt(h.Interval ?? 0),
      timeoutNs: BigInt(h.Timeout ?? 0),
      retries: h.Retries ?? 0,
      startPeriodNs: BigInt(h.StartPeriod ?? 0),
    }),
  };
}
