// Takes the README's screenshot (docs/screenshot-running.png) the way a person would see the page: against a server
// that is already running (`npm start`), it uploads a content image and a style, starts a run with a preset, waits
// until the chart holds some steps and a preview has arrived, and captures the page mid-run. The run then goes on.
//
//   node --import tsx scripts/screenshot.ts [--url http://localhost:4000] [--content c.jpg] [--style s.jpg]
//        [--preset "Quick preview"] [--after-steps 30] [--out docs/screenshot-running.png] [--key gmn_…]
//
// Where the server needs credentials, --key (or GRAMIAN_API_KEY) is the API key the page would ask for.
import { existsSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { chromium } from 'playwright-core';

const { values: options } = parseArgs({
  options: {
    url: { type: 'string', default: 'http://localhost:4000' },
    content: { type: 'string', default: '../shared/images/content/golden_gate.jpg' },
    style: { type: 'string', default: '../shared/images/style/the_scream.jpg' },
    'style-name': { type: 'string', default: 'The Scream' },
    preset: { type: 'string', default: 'Quick preview' },
    'after-steps': { type: 'string', default: '30' },
    out: { type: 'string', default: 'docs/screenshot-running.png' },
    chromium: { type: 'string', default: '/usr/bin/chromium' },
    key: { type: 'string', default: process.env.GRAMIAN_API_KEY ?? '' },
  },
});
if (!existsSync(options.chromium))
  throw new Error(`no Chromium at ${options.chromium} (apt-get install chromium, or --chromium PATH)`);
const afterSteps = Number(options['after-steps']);
// A run is minutes long at 256 px on wasm: wait for conditions, never for a fixed time.
const WAIT = { timeout: 15 * 60_000 };

const context = await chromium.launchPersistentContext(await mkdtemp(path.join(os.tmpdir(), 'gramian-shot-')), {
  executablePath: options.chromium,
  headless: true,
  viewport: { width: 1280, height: 860 },
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
try {
  // Kept where the page keeps the key it asks for (client-example/web/src/auth.ts), so it never needs to ask.
  if (options.key) await context.addInitScript((key) => localStorage.setItem('gramian.apiKey', key), options.key);
  const page = context.pages()[0] ?? (await context.newPage());
  await page.goto(options.url);
  await page.locator('#connection[data-state=connected]').waitFor(WAIT);
  await page.locator('input[name=content-file]').setInputFiles(path.resolve(options.content));
  await page.locator('.content-preview img').waitFor(WAIT);
  // Reuse the style if an earlier run of this script added it.
  const styleTile = page.locator(`[data-style-name="${options['style-name']}"]`);
  await page.locator('[data-role=styles]').waitFor(WAIT);
  if ((await styleTile.count()) === 0) {
    await page.locator('input[name=style-file]').setInputFiles(path.resolve(options.style));
    await page.locator('input[name=style-name]').fill(options['style-name']);
    await page.getByRole('button', { name: 'Add style' }).click();
    await page.locator(`[data-style-name="${options['style-name']}"].selected`).waitFor(WAIT);
  } else {
    await styleTile.click();
  }
  await page.locator('select[name=preset]').selectOption({ label: options.preset });
  await page.getByRole('button', { name: 'Start transfer' }).click();
  await page.waitForFunction(
    (steps) =>
      Number(document.querySelector('.run-view [data-role=loss-chart]')?.getAttribute('data-points')) >= steps &&
      document.querySelector<HTMLImageElement>('.run-view [data-role=main-image]')?.dataset.kind === 'preview',
    afterSteps,
    WAIT,
  );
  // Let the full-size preview replace its inline thumbnail.
  await page.waitForLoadState('networkidle');
  await page.screenshot({ path: options.out });
  const view = page.locator('.run-view');
  console.log(
    `${options.out}: run ${await view.getAttribute('data-run-id')} at step ${await view.getAttribute('data-steps')}`,
  );
} finally {
  await context.close();
}
