import * as z from 'zod';
import { splitShellWords } from '../shell-words.js';
import { UNSUPPORTED_SERVICE_KEYS } from '../unsupported.js';
import {
  type PortMapping,
  parseDuration,
  parseImageRef,
  parsePortRange,
  parsePortShort,
  parsePublished,
} from '../values/index.js';
import { parseSecurityOpt } from '../values/security-opt.js';
import { ValueError } from '../values/value-error.js';
import { deploySchema } from './deploy.js';
import { FLOTILLA_KEY, flotillaServiceSchema } from './flotilla.js';
import { healthcheckSchema } from './healthcheck.js';
import { serviceVolume, tmpfsList } from './mounts.js';
import {
  bool,
  int,
  keyValues,
  namedMap,
  oneOf,
  parsed,
  strictObject,
  stringOrList,
  suggest,
  text,
} from './primitives.js';

const duration = parsed(parseDuration);

/** `command: npm start` is split like a shell would; a list is taken as written. */
const commandLine = z.union([
  parsed((s) => splitShellWords(String(s))),
  z.array(text),
  z.null().transform(() => undefined),
]);

const image = z.string().transform((ref, ctx) => {
  try {
    parseImageRef(ref);
  } catch (err) {
    if (!(err instanceof ValueError)) throw err;
    ctx.addIssue({ code: 'custom', message: err.message, params: { flotilla: 'invalid-value' } });
  }
  return ref;
});

const portLong = strictObject({
  target: int(1, 65535),
  published: parsed(parsePublished).optional(),
  host_ip: text.optional(),
  protocol: oneOf(['tcp', 'udp', 'sctp']).optional(),
  mode: oneOf(['ingress', 'host']).optional(),
  name: text.optional(),
  app_protocol: text.optional(),
}).transform((p, ctx): PortMapping[] => {
  const published = p.published;
  if (published && published.start !== published.end) {
    ctx.addIssue({
      code: 'custom',
      path: ['published'],
      message:
        'a published range needs a container range of the same size: use the short syntax, e.g. "8080-8081:80-81"',
      params: { flotilla: 'invalid-value' },
    });
    return z.NEVER;
  }
  const out: PortMapping = { target: p.target, protocol: p.protocol ?? 'tcp', mode: p.mode ?? 'ingress' };
  if (published) out.published = published.start;
  if (p.host_ip !== undefined) out.host_ip = p.host_ip;
  if (p.name !== undefined) out.name = p.name;
  if (p.app_protocol !== undefined) out.app_protocol = p.app_protocol;
  return [out];
});

const port = z.union([parsed(parsePortShort), portLong]);

const expose = parsed((s) => {
  const range = parsePortRange(s);
  const ports = range.start === range.end ? String(range.start) : `${range.start}-${range.end}`;
  return range.protocol === 'tcp' ? ports : `${ports}/${range.protocol}`;
});

const ulimit = z.union([
  int(-1).transform((n) => ({ soft: n, hard: n })),
  strictObject({ soft: int(-1), hard: int(-1) }),
]);

const dependsOnCondition = oneOf(['service_started', 'service_healthy', 'service_completed_successfully']);

const dependsOn = z.union([
  z
    .array(z.string())
    .transform((names) =>
      Object.fromEntries(names.map((n) => [n, { condition: 'service_started' as const, required: true }])),
    ),
  z.record(
    z.string(),
    strictObject({
      condition: dependsOnCondition.optional(),
      restart: bool.optional(),
      required: bool.optional(),
    }).transform((d) => ({ ...d, condition: d.condition ?? 'service_started', required: d.required ?? true })),
  ),
]);

export interface FileReferenceModel {
  source: string;
  target?: string;
  uid?: string;
  gid?: string;
  mode?: number;
}

/**
 * A secret's or config's file mode: a string is octal, as Compose reads it (`mode: "0440"`), a number is taken
 * as given (YAML reads an unquoted 0440 as octal already, 288 as decimal).
 */
const fileMode = z.union([z.number(), z.string()]).transform((input, ctx): number => {
  const octal = typeof input === 'string' ? /^\s*(?:0o)?([0-7]+)\s*$/i.exec(input) : undefined;
  const n = typeof input === 'number' ? input : octal ? Number.parseInt(octal[1] as string, 8) : Number.NaN;
  if (!Number.isInteger(n) || n < 0 || n > 0o7777) {
    ctx.addIssue({
      code: 'custom',
      message: `invalid file mode ${JSON.stringify(input)}: write it in octal as a string ("0440") or as a number up to 0o7777`,
      params: { flotilla: 'invalid-value' },
    });
    return z.NEVER;
  }
  return n;
});

const fileReference = z.union([
  z.string().transform((source): FileReferenceModel => ({ source })),
  strictObject({
    source: z.string(),
    target: text.optional(),
    uid: text.optional(),
    gid: text.optional(),
    mode: fileMode.optional(),
  }).transform((r): FileReferenceModel => r),
]);

const serviceNetwork = strictObject({
  aliases: z.array(text).optional(),
  ipv4_address: text.optional(),
  ipv6_address: text.optional(),
  link_local_ips: z.array(text).optional(),
  mac_address: text.optional(),
  priority: int(-1_000_000, 1_000_000).optional(),
  gw_priority: int(-1_000_000, 1_000_000).optional(),
  driver_opts: keyValues.optional(),
});

const envFile = z.union([
  z.string().transform((path) => [{ path, required: true }]),
  z.array(
    z.union([
      z.string().transform((path) => ({ path, required: true })),
      strictObject({ path: z.string(), required: bool.optional(), format: text.optional() }).transform((e) => ({
        path: e.path,
        required: e.required ?? true,
      })),
    ]),
  ),
]);

export interface RestartModel {
  policy: 'no' | 'always' | 'unless-stopped' | 'on-failure';
  max_attempts?: number;
}

const RESTART_FORMS = 'no, always, unless-stopped, on-failure or on-failure:N (N a whole number)';

/** `restart:` as Docker reads it; `no` unquoted is YAML 1.1's false, read as "no". */
const restart = z.union([z.string(), z.literal(false)]).transform((input, ctx): RestartModel => {
  const value = input === false ? 'no' : input.trim();
  if (value === 'no' || value === 'always' || value === 'unless-stopped' || value === 'on-failure') {
    return { policy: value };
  }
  const attempts = /^on-failure:(\d+)$/.exec(value);
  if (attempts) return { policy: 'on-failure', max_attempts: Number(attempts[1]) };
  ctx.addIssue({
    code: 'custom',
    message: `${JSON.stringify(input)} is not a restart policy: use ${RESTART_FORMS}${suggest(value, ['no', 'always', 'unless-stopped', 'on-failure'])}`,
    params: { flotilla: 'invalid-value' },
  });
  return z.NEVER;
});

const ignoredServiceKeys = Object.fromEntries(
  Object.keys(UNSUPPORTED_SERVICE_KEYS).map((k) => [k, z.unknown().optional()]),
) as Record<keyof typeof UNSUPPORTED_SERVICE_KEYS, z.ZodOptional<z.ZodUnknown>>;

export const serviceSchema = strictObject({
  image: image.optional(),
  command: commandLine.optional(),
  entrypoint: commandLine.optional(),
  environment: keyValues.optional(),
  env_file: envFile.optional(),
  ports: z
    .array(port)
    .transform((lists) => lists.flat())
    .optional(),
  expose: z.array(expose).optional(),
  networks: namedMap(serviceNetwork).optional(),
  volumes: z.array(serviceVolume).optional(),
  tmpfs: tmpfsList.optional(),
  healthcheck: healthcheckSchema.optional(),
  labels: keyValues.optional(),
  // Files of KEY=VALUE lines read by label-files.ts and merged under labels: (which wins).
  label_file: stringOrList.optional(),
  restart: restart.optional(),
  user: text.optional(),
  working_dir: text.optional(),
  hostname: text.optional(),
  stop_grace_period: duration.optional(),
  stop_signal: text.optional(),
  init: bool.optional(),
  network_mode: text.optional(),
  // Sidecars: `NAME`, `NAME:ro`, `service:NAME:rw` (see sidecars.ts); `container:NAME` is warned about.
  volumes_from: z.array(text).optional(),
  // Admitted only under the privileged security profile (the manager checks at deploy).
  privileged: bool.optional(),
  pid: text.optional(),
  ipc: text.optional(),
  read_only: bool.optional(),
  ulimits: z.record(z.string(), ulimit).optional(),
  sysctls: keyValues.optional(),
  cap_add: z.array(text).optional(),
  cap_drop: z.array(text).optional(),
  security_opt: z.array(parsed(parseSecurityOpt)).optional(),
  depends_on: dependsOn.optional(),
  configs: z.array(fileReference).optional(),
  secrets: z.array(fileReference).optional(),
  logging: strictObject({ driver: text.optional(), options: keyValues.optional() }).optional(),
  deploy: deploySchema.optional(),
  [FLOTILLA_KEY]: flotillaServiceSchema.optional(),
  profiles: z.array(text).optional(),
  extends: z.unknown().optional(), // resolved and removed by the loader (extends.ts) before validation
  ...ignoredServiceKeys,
});

export type ServiceModel = z.output<typeof serviceSchema>;
