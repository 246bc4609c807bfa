import { existsSync } from 'node:fs';
import type { ImageFile } from './layer-archive.js';

/** Where Debian's busybox-static puts its one binary. */
export const HOST_BUSYBOX = '/bin/busybox';

/**
 * The files of a minimal image around this machine's static busybox: the binary, a link for each applet, root
 * and nobody accounts, /root and /tmp. The examples and the tests build their images from it instead of
 * downloading any.
 */
export function busyboxImageFiles(applets: readonly string[]): ImageFile[] {
  if (!existsSync(HOST_BUSYBOX)) {
    throw new Error(`${HOST_BUSYBOX} is missing: install Debian's busybox-static (apt-get install busybox-static)`);
  }
  return [
    { type: 'host-file', path: '/bin/busybox', hostPath: HOST_BUSYBOX, mode: 0o755 },
    ...applets
      .filter((a) => a !== 'busybox')
      .map((applet): ImageFile => ({ type: 'symlink', path: `/bin/${applet}`, target: 'busybox' })),
    {
      type: 'file',
      path: '/etc/passwd',
      content: 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534::/:/bin/false\n',
    },
    { type: 'file', path: '/etc/group', content: 'root:x:0:\nnogroup:x:65534:\n' },
    { type: 'directory', path: '/root', mode: 0o700 },
    { type: 'directory', path: '/tmp', mode: 0o1777 },
  ];
}
