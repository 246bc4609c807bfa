import type { Platform } from './media-types.js';

// The names uname, Debian and Go use for the same CPU, mapped to the OCI (Go) names registries use.
const ARCHITECTURES: Record<string, string> = {
  x86_64: 'amd64',
  'x86-64': 'amd64',
  amd64: 'amd64',
  aarch64: 'arm64',
  arm64: 'arm64',
  armhf: 'arm',
  armel: 'arm',
  armv7l: 'arm',
  armv6l: 'arm',
  arm: 'arm',
  i386: '386',
  i686: '386',
  '386': '386',
};

/** OCI names for a platform: `x86_64` → `amd64`, `aarch64` → `arm64`; arm64's default variant v8 is dropped. */
export function normalizePlatform(platform: Platform): Platform {
  const raw = platform.architecture.toLowerCase();
  const architecture = ARCHITECTURES[raw] ?? raw;
  let variant = platform.variant?.toLowerCase() || undefined;
  if (variant === undefined && (raw === 'armv7l' || raw === 'armhf')) variant = 'v7';
  if (variant === undefined && (raw === 'armv6l' || raw === 'armel')) variant = 'v6';
  if (architecture === 'arm64' && variant === 'v8') variant = undefined;
  const os = platform.os.toLowerCase();
  return variant === undefined ? { os, architecture } : { os, architecture, variant };
}

/** The platform of this process, in OCI names. */
export function hostPlatform(): Platform {
  return normalizePlatform({ os: process.platform, architecture: process.arch === 'x64' ? 'amd64' : process.arch });
}

/** `linux/arm64/v8` style, for messages. */
export function formatPlatform(platform: Platform): string {
  return [platform.os, platform.architecture, platform.variant].filter(Boolean).join('/');
}

/**
 * Whether an image built for `candidate` runs on `wanted`. A wanted variant must match; with none wanted any
 * variant does (an arm64 node takes an arm64 image whatever its variant label).
 */
export function platformMatches(wanted: Platform, candidate: Platform): boolean {
  const w = normalizePlatform(wanted);
  const c = normalizePlatform(candidate);
  if (w.os !== c.os || w.architecture !== c.architecture) return false;
  return w.variant === undefined || w.variant === c.variant;
}
