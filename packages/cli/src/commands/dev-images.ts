import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { buildImage, type ImageFile, RegistryClient } from '@flotilla/registry';

const BUSYBOX = '/bin/busybox';

/** The image the examples run: Debian's static busybox with every applet linked, built here, not downloaded. */
export const EXAMPLE_IMAGE = 'flotilla-examples/busybox:1';

/**
 * Builds the examples' image from this machine's Debian binaries and pushes it to the dev registry, so a
 * deploy pulls it exactly as a production one pulls from a registry. Returns the pushed reference.
 */
export async function pushExampleImages(registry: string): Promise<string> {
  if (!existsSync(BUSYBOX)) {
    throw new Error(`${BUSYBOX} is missing: install Debian's busybox-static (npm start does, as root)`);
  }
  const applets = execFileSync(BUSYBOX, ['--list'], { encoding: 'utf8' })
    .split('\n')
    .map((a) => a.trim())
    .filter((a) => /^[a-z0-9_.[-]+$/i.test(a) && a !== 'busybox');
  const files: ImageFile[] = [
    { type: 'host-file', path: '/bin/busybox', hostPath: BUSYBOX, mode: 0o755 },
    ...applets.map((applet): ImageFile => ({ type: 'symlink', path: `/bin/${applet}`, target: 'busybox' })),
    {
      type: 'file',
      path: '/etc/passwd',
      content: 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534::/:/bin/false\n',
    },
    { type: 'file', path: '/etc/group', content: 'root:x:0:\nnogroup:x:65534:\n' },
    { type: 'directory', path: '/root', mode: 0o700 },
    { type: 'directory', path: '/tmp', mode: 0o1777 },
    { type: 'directory', path: '/www', mode: 0o755 },
  ];
  const image = await buildImage({ files, config: { cmd: ['sh'] } });
  const client = new RegistryClient({ insecureRegistries: [registry] });
  try {
    const reference = `${registry}/${EXAMPLE_IMAGE}`;
    await client.pushImage(reference, image);
    return reference;
  } finally {
    client.close();
  }
}
