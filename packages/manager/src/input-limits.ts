import { Code, FlotillaError, type NodeDescription, type TaskStatus } from '@flotilla/api';

/** Per-field limits on what nodes send, on top of gRPC's 4 MiB per message. */
export const LIMITS = {
  hostname: 253,
  shortText: 128,
  addresses: 32,
  labels: 64,
  labelKey: 128,
  labelValue: 1024,
  statusText: 4096,
  healthOutput: 1024,
  taskId: 64,
} as const;

/** Refuses a node description with any field over its limit, naming the field and the limit. */
export function checkDescription(d: NodeDescription | undefined): void {
  if (!d) return;
  const over = (field: string, limit: number, what = 'characters') => {
    throw new FlotillaError(Code.InvalidArgument, `node description: ${field} is over the limit of ${limit} ${what}`, {
      reason: 'invalid',
    });
  };
  if (d.hostname.length > LIMITS.hostname) over('hostname', LIMITS.hostname);
  for (const [field, value] of Object.entries({
    os: d.os,
    architecture: d.architecture,
    runtime: d.runtime,
    runtime_version: d.runtimeVersion,
    executor: d.executor,
  })) {
    if (value.length > LIMITS.shortText) over(field, LIMITS.shortText);
  }
  if (d.addresses.length > LIMITS.addresses) over('addresses', LIMITS.addresses, 'entries');
  if (d.addresses.some((a) => a.length > LIMITS.shortText)) over('an address', LIMITS.shortText);
  const labels = Object.entries(d.engineLabels);
  if (labels.length > LIMITS.labels) over('engine_labels', LIMITS.labels, 'entries');
  for (const [key, value] of labels) {
    if (key.length > LIMITS.labelKey) over(`engine label key "${key.slice(0, 32)}…"`, LIMITS.labelKey);
    if (value.length > LIMITS.labelValue) over(`engine label ${key}`, LIMITS.labelValue);
  }
}

/** A node's free text in a status (message, error) is cut to the limit rather than refused: the state matters. */
export function boundStatus(status: TaskStatus): TaskStatus {
  const cut = (s: string, limit: number = LIMITS.statusText) => (s.length > limit ? `${s.slice(0, limit - 1)}…` : s);
  const bounded = { ...status, message: cut(status.message), error: cut(status.error) };
  if (status.healthOutput !== undefined) bounded.healthOutput = cut(status.healthOutput, LIMITS.healthOutput);
  return bounded;
}
