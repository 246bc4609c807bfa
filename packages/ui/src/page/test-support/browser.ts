/*
 * Debian's Chromium (package `chromium`, installed by scripts/test.sh), driven headless by playwright-core. Never
 * a browser a test tool downloads. The flags keep Chromium from reaching out on its own (update checks, sync,
 * QUIC probes): this machine's network is closed, and a test must not depend on anything beyond loopback.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type BrowserContext, chromium } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';

export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export async function launchChromium(): Promise<{ context: BrowserContext; close(): Promise<void> }> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`${CHROMIUM} is missing: install Debian's chromium package (as root: apt-get install chromium)`);
  }
  // A new, empty profile each run (playwright names it with userDataDir; it refuses --user-data-dir in args).
  const profile = await mkdtemp(join(tmpdir(), 'flotilla-ui-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
    viewport: { width: 1600, height: 1000 },
  });
  return {
    context,
    async close() {
      await context.close();
      await rm(profile, { recursive: true, force: true });
    },
  };
}
