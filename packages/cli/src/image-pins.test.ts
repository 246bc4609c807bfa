import { type ControlServiceClient, FlotillaError } from '@flotilla/api';
import { loadStackText, toStackSpec } from '@flotilla/stack';
import { describe, expect, it } from 'vitest';
import { dockerConfigFile, formatPins, type ImagePin, pinImages, unpinnedNotice } from './image-pins.js';
import type { Io } from './io.js';

const stack = toStackSpec(loadStackText('services:\n  api:\n    image: app:1\n').stack, 'web');
const io = (env: Record<string, string>): Io => ({ out: () => {}, err: () => {}, env });
// `never` and a bad setting ask neither the control API nor a registry.
const noClient = {} as ControlServiceClient;

describe('pinImages settings', () => {
  it('takes the mode from FLOTILLA_RESOLVE_IMAGE when no flag gives it, and refuses an unknown one', async () => {
    const { pins } = await pinImages(io({ FLOTILLA_RESOLVE_IMAGE: 'never' }), noClient, stack, {
      insecureRegistry: [],
    });
    expect(pins).toEqual([{ service: 'web_api', image: 'app:1', runs: 'app:1', how: 'unpinned' }]);
    const err = await pinImages(io({ FLOTILLA_RESOLVE_IMAGE: 'sometimes' }), noClient, stack, {
      insecureRegistry: [],
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FlotillaError);
    expect((err as Error).message).toMatch(/FLOTILLA_RESOLVE_IMAGE: "sometimes" is not one of always, changed, never/);
  });

  it('reads logins where Docker keeps them', () => {
    expect(dockerConfigFile({ DOCKER_CONFIG: '/etc/docker-cfg', HOME: '/home/a' })).toBe('/etc/docker-cfg/config.json');
    expect(dockerConfigFile({ HOME: '/home/a' })).toBe('/home/a/.docker/config.json');
  });
});

describe('pin output', () => {
  const digest = `sha256:${'ab'.repeat(32)}`;
  const pins: ImagePin[] = [
    { service: 'web_api', image: 'app:1', runs: `app:1@${digest}`, how: 'resolved' },
    { service: 'web_db', image: 'db:1', runs: `db:1@${digest}`, how: 'kept' },
    { service: 'web_given', image: `x@${digest}`, runs: `x@${digest}`, how: 'given' },
    { service: 'web_loose', image: 'loose:1', runs: 'loose:1', how: 'unpinned' },
  ];

  it('says what each service runs and why, and warns of the tags left unpinned', () => {
    expect(formatPins(pins)).toBe(
      `Image app:1 pinned to ${digest} (web_api)\nImage db:1 kept at ${digest} (web_db: reference unchanged)\n`,
    );
    expect(unpinnedNotice(pins)).toMatch(/^Images not pinned to digests \(--resolve-image never\).*\(web_loose\)\n$/);
    expect(unpinnedNotice(pins.slice(0, 3))).toBe('');
  });
});
