import { Option } from '@commander-js/extra-typings';
import type { ControlServiceClient, ServiceSpec } from '@flotilla/api';
import { type PinFlags, pinImages, RESOLVE_IMAGE_MODES, unpinnedNotice } from './image-pins.js';
import type { Io } from './io.js';

/** `--resolve-image`, `--registry-auth`, `--insecure-registry`: as on `stack deploy`. */
export function addPinFlags(command: { addOption(option: Option): unknown }): void {
  command.addOption(
    new Option(
      '--resolve-image <MODE>',
      'pin the image to the digest its tag names now: always, changed or never (default always, or FLOTILLA_RESOLVE_IMAGE)',
    ).choices(RESOLVE_IMAGE_MODES),
  );
  command.addOption(new Option('--registry-auth <FILE>', "registry logins, Docker's config.json"));
  command.addOption(
    new Option('--insecure-registry <HOST:PORT>', 'a registry that may be reached over plain HTTP (repeatable)')
      .argParser((value: string, all: string[]) => [...all, value])
      .default([] as string[]),
  );
}

/**
 * The spec with its image pinned as `stack deploy` pins a stack's (the same code: a stack of this one service),
 * before anything is sent; a tag that cannot be resolved stops the command.
 */
export async function pinServiceImage(io: Io, c: ControlServiceClient, spec: ServiceSpec, flags: PinFlags) {
  const alone = { name: spec.stack, services: [spec], networks: [], volumes: [], configs: [], secrets: [] };
  const pinned = await pinImages(io, c, alone, flags);
  if (flags.resolveImage === 'never') io.err(unpinnedNotice(pinned.pins));
  return pinned.stack.services[0] ?? spec;
}
