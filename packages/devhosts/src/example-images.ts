import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { buildImage, busyboxImageFiles, HOST_BUSYBOX, type ImageFile, RegistryClient } from '@flotilla/registry';

/** The image the examples run: Debian's static busybox with every applet linked, built here, not downloaded. */
export const EXAMPLE_IMAGE = 'flotilla-examples/busybox:1';
/** Debian's redis-server with the libraries it links, and busybox for its healthcheck (the coins example). */
export const REDIS_IMAGE = 'flotilla-examples/redis:1';
const REDIS = '/usr/bin/redis-server';

/**
 * Builds the examples' image from this machine's Debian binaries and pushes it to the dev registry, so a
 * deploy pulls it exactly as a production one pulls from a registry. Returns the pushed reference.
 */
export async function pushExampleImages(registry: string): Promise<string> {
  const busybox = busyboxFiles();
  const client = new RegistryClient({ insecureRegistries: [registry] });
  try {
    const reference = `${registry}/${EXAMPLE_IMAGE}`;
    await client.pushImage(reference, await buildImage({ files: busybox, config: { cmd: ['sh'] } }));
    // Without redis-server on this machine, the coins example cannot run; the web example still can.
    if (existsSync(REDIS)) {
      const redis = [...busybox, ...dynamicBinary(REDIS)];
      const config = {
        cmd: ['redis-server', '--port', '6379', '--save', '', '--appendonly', 'no', '--protected-mode', 'no'],
      };
      await client.pushImage(`${registry}/${REDIS_IMAGE}`, await buildImage({ files: redis, config }));
    }
    return reference;
  } finally {
    client.close();
  }
}

/** A dynamically linked binary with every library `ldd` says it loads, at the same paths. */
function dynamicBinary(binary: string): ImageFile[] {
  const out = execFileSync('ldd', [binary], { encoding: 'utf8' });
  const libraries = [...out.matchAll(/(?:=>\s*)?(\/\S+)\s+\(0x/g)].map((m) => m[1] as string);
  return [binary, ...new Set(libraries)].map(
    (file): ImageFile => ({ type: 'host-file', path: file, hostPath: file, mode: 0o755 }),
  );
}

/** busybox with every applet it has linked, and a /www for the examples' web servers. */
function busyboxFiles(): ImageFile[] {
  const applets = execFileSync(HOST_BUSYBOX, ['--list'], { encoding: 'utf8' })
    .split('\n')
    .map((a) => a.trim())
    .filter((a) => /^[a-z0-9_.[-]+$/i.test(a));
  return [...busyboxImageFiles(applets), { type: 'directory', path: '/www', mode: 0o755 }];
}
