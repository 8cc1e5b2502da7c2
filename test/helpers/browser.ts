// Debian's Chromium for the browser tests, driven by playwright-core: where it is, whether the tests must run, and
// one way to start it (headless, a fresh profile, no background traffic to a network this machine does not have).
import { existsSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';

/** Skipped on a machine without Chromium, except in CI (.ci/run sets GRAMIAN_REQUIRE_BROWSER), where it must run. */
export const RUN_BROWSER = existsSync(CHROMIUM) || process.env.GRAMIAN_REQUIRE_BROWSER === '1';

export async function launchChromium(): Promise<BrowserContext> {
  // Playwright wants the profile folder as launchPersistentContext's argument rather than --user-data-dir.
  return chromium.launchPersistentContext(await mkdtemp(path.join(os.tmpdir(), 'gramian-chromium-')), {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1280, height: 800 },
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}
