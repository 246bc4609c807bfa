import { MAX_REPLICAS } from '@flotilla/api';
import * as z from 'zod';
import { UNSUPPORTED_RESERVATION_KEYS } from '../unsupported.js';
import { parseBytes, parseConstraint, parseCpus, parseDuration, parseSpread } from '../values/index.js';
import { decimal, int, keyValues, oneOf, parsed, strictObject } from './primitives.js';

const duration = parsed(parseDuration);

const resourceValues = (extra: Record<string, z.ZodType> = {}) =>
  strictObject({
    cpus: parsed(parseCpus).optional(),
    memory: parsed(parseBytes).optional(),
    pids: int(0).optional(),
    ...extra,
  });

const ignored = (keys: Record<string, string>) =>
  Object.fromEntries(Object.keys(keys).map((k) => [k, z.unknown().optional()]));

const updateConfig = strictObject({
  parallelism: int(0).optional(),
  delay: duration.optional(),
  failure_action: oneOf(['continue', 'rollback', 'pause']).optional(),
  monitor: duration.optional(),
  max_failure_ratio: decimal(0, 1).optional(),
  order: oneOf(['start-first', 'stop-first']).optional(),
});

export const deploySchema = strictObject({
  mode: oneOf(['replicated', 'global', 'replicated-job', 'global-job']).optional(),
  replicas: int(0, MAX_REPLICAS).optional(),
  endpoint_mode: oneOf(['vip', 'dnsrr']).optional(),
  labels: keyValues.optional(),
  placement: strictObject({
    constraints: z.array(parsed((s) => parseConstraint(String(s)))).optional(),
    preferences: z.array(strictObject({ spread: parsed((s) => parseSpread(String(s))) })).optional(),
    max_replicas_per_node: int(0).optional(),
  }).optional(),
  resources: strictObject({
    limits: resourceValues().optional(),
    reservations: resourceValues(ignored(UNSUPPORTED_RESERVATION_KEYS)).optional(),
  }).optional(),
  restart_policy: strictObject({
    condition: oneOf(['none', 'on-failure', 'any']).optional(),
    delay: duration.optional(),
    max_attempts: int(0).optional(),
    window: duration.optional(),
  }).optional(),
  update_config: updateConfig.optional(),
  rollback_config: updateConfig.optional(),
});

export type DeployModel = z.output<typeof deploySchema>;
