import * as z from 'zod';
import { UNSUPPORTED_TOP_LEVEL_KEYS } from '../unsupported.js';
import { bool, type Extensions, keyValues, strictObject, strictObjectWithExtensions, text } from './primitives.js';
import { serviceSchema } from './service.js';

const NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

/** A map of named objects; a name may carry no settings (`volumes: {data: }`). */
function named<T extends z.ZodType>(value: T, what: string) {
  return z.record(
    z.string().refine((name) => NAME.test(name), {
      message: `invalid ${what} name: use letters, digits, "_", "." and "-", starting with a letter or digit`,
      params: { flotilla: 'invalid-value' },
    }),
    value,
  );
}

const external = z.union([bool, strictObject({ name: text.optional() })]).transform((e) => e !== false);

/**
 * The legacy `external: {name: X}` is `external: true` with `name: X`, as Compose reads it; the name is lifted
 * out before the transform above drops it, and giving it twice, differently, is refused.
 */
function liftExternalName<T extends z.ZodType>(object: T) {
  return z.preprocess((input, ctx) => {
    if (!input || typeof input !== 'object' || Array.isArray(input)) return input;
    const o = input as { external?: unknown; name?: unknown };
    if (!o.external || typeof o.external !== 'object' || Array.isArray(o.external)) return input;
    const legacy = (o.external as { name?: unknown }).name;
    if (legacy === undefined) return input;
    if (o.name !== undefined && o.name !== legacy) {
      ctx.addIssue({
        code: 'custom',
        message: `external.name (${String(legacy)}) and name (${String(o.name)}) differ: keep only name, with external: true`,
        path: ['name'],
        params: { flotilla: 'invalid-value' },
      });
      return input;
    }
    return { ...o, name: legacy, external: true };
  }, object);
}

const network = liftExternalName(
  strictObjectWithExtensions({
    driver: text.optional(),
    driver_opts: keyValues.optional(),
    attachable: bool.optional(),
    internal: bool.optional(),
    external: external.optional(),
    name: text.optional(),
    enable_ipv6: bool.optional(),
    enable_ipv4: bool.optional(),
    labels: keyValues.optional(),
    ipam: strictObject({
      driver: text.optional(),
      config: z
        .array(
          strictObject({
            subnet: text.optional(),
            ip_range: text.optional(),
            gateway: text.optional(),
            aux_addresses: keyValues.optional(),
          }),
        )
        .optional(),
      options: keyValues.optional(),
    }).optional(),
  }),
);

const volume = liftExternalName(
  strictObjectWithExtensions({
    driver: text.optional(),
    driver_opts: keyValues.optional(),
    external: external.optional(),
    name: text.optional(),
    labels: keyValues.optional(),
  }),
);

const fileObject = (secret: boolean) =>
  liftExternalName(
    strictObjectWithExtensions({
      file: text.optional(),
      external: external.optional(),
      name: text.optional(),
      environment: text.optional(),
      labels: keyValues.optional(),
      template_driver: text.optional(),
      ...(secret ? { driver: text.optional(), driver_opts: keyValues.optional() } : { content: text.optional() }),
    }).transform((o, ctx) => {
      const sources = ['file', 'external', 'environment', 'content'].filter((k) => (o as Record<string, unknown>)[k]);
      if (sources.length !== 1) {
        ctx.addIssue({
          code: 'custom',
          message:
            sources.length === 0
              ? `a ${secret ? 'secret' : 'config'} needs one of file, environment${secret ? '' : ', content'} or external: true`
              : `a ${secret ? 'secret' : 'config'} takes only one of ${sources.join(', ')}`,
          params: { flotilla: 'invalid-value' },
        });
      }
      return o as { file?: string; external?: boolean; name?: string; environment?: string; content?: string } & {
        labels?: Record<string, string | null>;
        template_driver?: string;
        driver?: string;
        driver_opts?: Record<string, string | null>;
      } & Extensions;
    }),
  );

export const stackSchema = strictObject({
  version: text.optional(),
  name: z
    .string()
    .refine((n) => /^[a-z0-9][a-z0-9_-]*$/.test(n), {
      message: 'a stack name uses lower-case letters, digits, "_" and "-", starting with a letter or digit',
      params: { flotilla: 'invalid-value' },
    })
    .optional(),
  services: named(serviceSchema, 'service').optional(),
  networks: named(network.nullable(), 'network').optional(),
  volumes: named(volume.nullable(), 'volume').optional(),
  configs: named(fileObject(false).nullable(), 'config').optional(),
  secrets: named(fileObject(true).nullable(), 'secret').optional(),
  ...Object.fromEntries(Object.keys(UNSUPPORTED_TOP_LEVEL_KEYS).map((k) => [k, z.unknown().optional()])),
});

export type StackModel = z.output<typeof stackSchema>;
export type NetworkModel = z.output<typeof network>;
export type VolumeModel = z.output<typeof volume>;
export type FileObjectModel = NonNullable<z.output<ReturnType<typeof fileObject>>>;
