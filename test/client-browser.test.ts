// The web page (client-example/web) in a real Chromium against a real server: built with Vite's own API, served
// by the server at /, driven like a user would (upload a content image and a style, pick a preset, start, watch the
// chart and previews, cancel, browse the history, compare), and followed across a server restart. The static route
// itself (caching, 404s, no way out of the folder) is checked over plain HTTP first.
import { mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { type BrowserContext, type Page } from 'playwright-core';
import { CHROMIUM, launchChromium, RUN_BROWSER } from './helpers/browser.js';
import { build } from 'vite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clientRoute } from '../src/http/client-route.js';
import { gql, startTestServer, type TestServer } from './helpers/server.js';
import { REPO_ROOT, contentImage, styleImage } from './helpers/shared.js';

if (!RUN_BROWSER)
  console.warn(`client-browser: skipped, ${CHROMIUM} is missing (apt-get install chromium; .ci/run installs it)`);

const ARTIFACTS = path.join(REPO_ROOT, 'test-artifacts');
/** Generous: a condition, never a duration, is what the test waits for. */
const WAIT = { timeout: 60_000 };

let distDir: string;
let dataDir: string;
let server: TestServer;
let context: BrowserContext | undefined;
let page: Page;
let presetId: string;

beforeAll(async () => {
  distDir = await mkdtemp(path.join(os.tmpdir(), 'gramian-client-'));
  await build({
    configFile: path.join(REPO_ROOT, 'client-example/web/vite.config.ts'),
    build: { outDir: distDir, emptyOutDir: true, sourcemap: false },
    logLevel: 'warn',
  });
  dataDir = await mkdtemp(path.join(os.tmpdir(), 'gramian-client-data-'));
  server = await startTestServer({ CLIENT_DIR: distDir }, dataDir);
  // A preset small enough for ~0.1 s steps, so the runs below take seconds.
  const preset = await gql(
    server.url,
    `mutation ($input: CreatePresetInput!) { createPreset(input: $input) { __typename ... on Preset { id } } }`,
    {
      input: { name: 'tiny-browser', params: { size: 48, steps: 40, previewEvery: 5 } },
    },
  );
  expect(preset.data?.createPreset.__typename).toBe('Preset');
  presetId = preset.data!.createPreset.id;
  if (RUN_BROWSER) {
    // Playwright wants the profile folder as launchPersistentContext's argument rather than --user-data-dir.
    context = await launchChromium();
    page = context.pages()[0] ?? (await context.newPage());
    page.on('pageerror', (error) => console.error(`page error: ${error.message}`));
  }
});

afterAll(async () => {
  await context?.close();
  await server?.stop();
  await rm(distDir, { recursive: true, force: true });
  await rm(dataDir, { recursive: true, force: true });
});

/** A quality score as the page writes it (model.ts formatScore): 3 significant digits, exponent when tiny or huge. */
function score(value: number): string {
  if (value === 0) return '0';
  return Math.abs(value) >= 1000 || Math.abs(value) < 0.01 ? value.toExponential(2) : value.toPrecision(3);
}

/** GET with the path sent exactly as given (fetch would normalise "..").  */
function rawGet(
  url: string,
  pathname: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const { hostname, port } = new URL(url);
    const request = http.get({ hostname, port, path: pathname, headers }, (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (body += chunk));
      response.on('end', () => resolve({ status: response.statusCode!, headers: response.headers, body }));
    });
    request.on('error', reject);
  });
}

describe('the page served at /', () => {
  it('serves index.html revalidated, hashed assets forever, 404 for the rest, nothing outside the folder', async () => {
    const index = await rawGet(server.url, '/');
    expect(index.status).toBe(200);
    expect(index.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(index.headers['cache-control']).toBe('no-cache');
    expect((await rawGet(server.url, '/', { 'if-none-match': index.headers.etag! })).status).toBe(304);
    const assets = await readdir(path.join(distDir, 'assets'));
    const script = assets.find((name) => name.endsWith('.js'))!;
    expect(index.body).toContain(`/assets/${script}`);
    const asset = await rawGet(server.url, `/assets/${script}`);
    expect(asset.status).toBe(200);
    expect(asset.headers['content-type']).toBe('text/javascript; charset=utf-8');
    expect(asset.headers['cache-control']).toBe('public, max-age=31536000, immutable');
    expect(
      (await rawGet(server.url, `/assets/${assets.find((name) => name.endsWith('.css'))}`)).headers['content-type'],
    ).toBe('text/css; charset=utf-8');
    for (const missing of [
      '/nope.js',
      '/assets/',
      '/../package.json',
      '/%2e%2e/%2e%2e/etc/passwd',
      '/assets/..%2f..%2fpackage.json',
      '/.env',
      '/a%00b',
    ]) {
      expect([missing, (await rawGet(server.url, missing)).status]).toEqual([missing, 404]);
    }
    // The API is still where it was: GraphiQL at /graphql, images at /images.
    const graphiql = await rawGet(server.url, '/graphql', { accept: 'text/html' });
    expect(graphiql.body).toContain('GraphiQL');
  });

  it('says how to build the page when the folder has none', async () => {
    const empty = await mkdtemp(path.join(os.tmpdir(), 'gramian-empty-'));
    const plain = http.createServer((request, response) => void clientRoute(empty)(request, response));
    await new Promise<void>((resolve) => plain.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(plain.address() as AddressInfo).port}`;
    try {
      const page = await rawGet(url, '/');
      expect(page.status).toBe(200);
      expect(page.body).toContain('npm run build:client');
      expect(page.body).toContain('href="/graphql"');
      expect((await rawGet(url, '/assets/app.js')).status).toBe(404);
    } finally {
      plain.close();
      await rm(empty, { recursive: true, force: true });
    }
  });
});

describe.skipIf(!RUN_BROWSER)('the page in Chromium', () => {
  const runView = () => page.locator('.run-view');
  const points = async () => Number(await page.locator('.run-view [data-role=loss-chart]').getAttribute('data-points'));

  it('uploads a content image and a style, starts a run and shows it live', async () => {
    await page.goto(server.url);
    await page.locator('#connection[data-state=connected]').waitFor(WAIT);
    await page.locator('input[name=content-file]').setInputFiles(contentImage('golden_gate.jpg'));
    await page.locator('.content-preview img').waitFor(WAIT);
    await page.locator('input[name=style-file]').setInputFiles(styleImage('the_scream.jpg'));
    await page.locator('input[name=style-name]').fill('The Scream');
    await page.getByRole('button', { name: 'Add style' }).click();
    await page.locator('[data-style-name="The Scream"].selected').waitFor(WAIT);
    await page.locator('select[name=preset]').selectOption(presetId);
    await page.getByRole('button', { name: 'Start transfer' }).click();

    // Live: the chart gains points and a preview replaces the content image.
    await page.waitForFunction(
      () => {
        const chart = document.querySelector('.run-view [data-role=loss-chart]');
        const image = document.querySelector<HTMLImageElement>('.run-view [data-role=main-image]');
        return (
          Number(chart?.getAttribute('data-points')) >= 5 &&
          ['preview', 'result'].includes(image?.dataset.kind ?? '') &&
          !!image?.getAttribute('src')
        );
      },
      undefined,
      WAIT,
    );
    await mkdir(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: path.join(ARTIFACTS, 'client-running.png') });
    expect(await page.locator('[data-role=previews] img').count()).toBeGreaterThanOrEqual(1);

    await page.locator('.run-view[data-status=SUCCEEDED]').waitFor(WAIT);
    // Every step exactly once, and the result in the preview's place.
    await page.waitForFunction(
      () => document.querySelector('.run-view [data-role=loss-chart]')?.getAttribute('data-points') === '40',
      undefined,
      WAIT,
    );
    const image = page.locator('.run-view [data-role=main-image]');
    expect(await image.getAttribute('data-kind')).toBe('result');
    expect(await image.getAttribute('src')).toMatch(/^\/images\/[0-9a-f]{64}$/);
    expect(await page.locator('[data-role=previews] img').count()).toBeGreaterThanOrEqual(7);
    const runId = await runView().getAttribute('data-run-id');
    const stored = await gql(server.url, `query ($id: ID!) { run(id: $id) { status steps { step } } }`, { id: runId });
    expect(stored.data!.run.steps).toHaveLength(40);
  });

  it('shows a second run waiting in the queue, and cancels it and the running one', async () => {
    const before = await runView().getAttribute('data-run-id');
    // Far more steps than the test waits for: only Cancel can end these runs.
    await page.locator('input[name=steps]').fill('2000');
    await page.getByRole('button', { name: 'Start transfer' }).click();
    const running = page.locator(`.run-view:not([data-run-id="${before}"])[data-status=RUNNING]`);
    await running.waitFor(WAIT);
    const runningId = await running.getAttribute('data-run-id');

    // One engine worker: the next run waits, first in line.
    await page.getByRole('button', { name: 'Start transfer' }).click();
    const queued = page.locator(`.run-view:not([data-run-id="${runningId}"])[data-status=QUEUED]`);
    await queued.waitFor(WAIT);
    expect(await page.locator('.run-view [data-role=queue]').textContent()).toBe('#1 in queue');
    await page.getByRole('button', { name: 'Cancel' }).click();
    await page.locator('.run-view[data-status=CANCELED]').waitFor(WAIT);
    expect(await page.locator('.run-view [data-role=status]').textContent()).toBe('CANCELED');

    // The running one, from its own page.
    await page.goto(`${server.url}/#/runs/${encodeURIComponent(runningId!)}`);
    await page.locator('.run-view[data-status=RUNNING]').waitFor(WAIT);
    await page.getByRole('button', { name: 'Cancel' }).click();
    await page.locator('.run-view[data-status=CANCELED]').waitFor(WAIT);
    const stored = await gql(server.url, `query ($id: ID!) { run(id: $id) { status lastStep } }`, { id: runningId });
    expect(stored.data!.run.status).toBe('CANCELED');
    expect(stored.data!.run.lastStep).toBeGreaterThan(0);
    await page.goto(server.url);
  });

  it('lists the runs in the history, opens one and compares two', async () => {
    await page.getByRole('link', { name: 'History', exact: true }).click();
    await page.locator('.history-row').nth(2).waitFor(WAIT);
    const statuses = await page
      .locator('.history-row')
      .evaluateAll((rows) => rows.map((row) => (row as HTMLElement).dataset.status));
    expect(statuses).toEqual(['CANCELED', 'CANCELED', 'SUCCEEDED']);
    expect(await page.locator('.history-row[data-status=SUCCEEDED] svg.sparkline polyline').count()).toBe(1);
    // The finished run was scored (the canceled ones were not): its quality, as the API has it, in its row.
    const succeededId = await page.locator('.history-row[data-status=SUCCEEDED]').getAttribute('data-run-id');
    const { quality } = (
      await gql(server.url, `query ($id: ID!) { run(id: $id) { quality { style content } } }`, { id: succeededId })
    ).data!.run as { quality: { style: number; content: number } };
    expect(Number.isFinite(quality.style) && Number.isFinite(quality.content)).toBe(true);
    const scores = `style ${score(quality.style)} · content ${score(quality.content)}`;
    expect(await page.locator('.history-row [data-role=quality]').allTextContents()).toEqual([scores]);

    await page.locator('.history-row[data-status=SUCCEEDED] .history-title').click();
    await page.locator('.run-view[data-status=SUCCEEDED]').waitFor(WAIT);
    await page.waitForFunction(
      () => document.querySelector('.run-view [data-role=loss-chart]')?.getAttribute('data-points') === '40',
      undefined,
      WAIT,
    );
    expect(await page.locator('.run-view .parameters').textContent()).toContain('tiny-browser');

    await page.getByRole('link', { name: '← History' }).click();
    // The list loads after the view appears: tick only once every row is there. Ticking a third unticks the first,
    // so the running-then-canceled run is compared with the finished one.
    await page.locator('.history-row').nth(2).waitFor(WAIT);
    for (const box of await page.locator('input[name=compare]').all()) await box.check();
    await page.getByRole('link', { name: 'Compare the two ticked' }).click();
    await page.locator('.compare-table tr.differs').first().waitFor(WAIT);
    expect(await page.locator('.compare-column .badge').allTextContents()).toEqual(['CANCELED', 'SUCCEEDED']);
    // Both runs' quality scores, lower is better: only the finished one has any.
    expect(await page.locator('.compare-column [data-role=quality]').allTextContents()).toEqual([
      'Not scored',
      `Quality (lower is better): ${scores}`,
    ]);
    expect(await page.locator('.compare-table').textContent()).toContain('Style score (lower is better)');
  });

  it('follows a run across a server restart without losing or repeating a step', async () => {
    await page.getByRole('link', { name: 'New transfer' }).click();
    await page.locator('[data-style-name="The Scream"]').click();
    await page.locator('.tiles.small .tile').first().click();
    await page.locator('select[name=preset]').selectOption(presetId);
    await page.locator('input[name=steps]').fill('80');
    await page.getByRole('button', { name: 'Start transfer' }).click();
    await page.locator('.run-view[data-status=RUNNING]').waitFor(WAIT);
    await page.waitForFunction(
      () => Number(document.querySelector('.run-view [data-role=loss-chart]')?.getAttribute('data-points')) >= 10,
      undefined,
      WAIT,
    );

    // A graceful stop checkpoints the run; on the same port and data, it resumes where it stopped.
    const port = new URL(server.url).port;
    await server.stop();
    await page.locator('#connection[data-state=reconnecting]').waitFor(WAIT);
    server = await startTestServer({ CLIENT_DIR: distDir, PORT: port }, dataDir);
    await page.locator('#connection[data-state=connected]').waitFor(WAIT);

    await page.locator('.run-view[data-status=SUCCEEDED]').waitFor(WAIT);
    await page.waitForFunction(
      () => document.querySelector('.run-view [data-role=loss-chart]')?.getAttribute('data-points') === '80',
      undefined,
      WAIT,
    );
    expect(await points()).toBe(80);
    expect(await page.locator('.run-view .stats').textContent()).toContain('step 80 / 80');
  });

  it('stylises with a trained model (fast) and shows the result without a loss chart', async () => {
    await page.getByText('Trained model (fast)').click();
    await page.locator('[data-model-name=mosaic]').click();
    await page.locator('[data-model-name=mosaic].selected').waitFor(WAIT);
    await page.locator('input[name=size]').fill('96');
    const before = await runView().getAttribute('data-run-id');
    await page.getByRole('button', { name: 'Start transfer' }).click();
    await page.locator(`.run-view:not([data-run-id="${before}"])[data-status=SUCCEEDED]`).waitFor(WAIT);
    const image = page.locator('.run-view [data-role=main-image]');
    await page.waitForFunction(
      () => document.querySelector<HTMLImageElement>('.run-view [data-role=main-image]')?.dataset.kind === 'result',
      undefined,
      WAIT,
    );
    expect(await image.getAttribute('src')).toMatch(/^\/images\/[0-9a-f]{64}$/);
    expect(await page.locator('.run-view [data-role=loss-chart]').isHidden()).toBe(true);
    expect(await page.locator('.run-view .parameters').textContent()).toContain('Mosaic (mosaic)');
    const runId = await runView().getAttribute('data-run-id');
    const stored = await gql(
      server.url,
      `query ($id: ID!) { run(id: $id) { engine status width height fastParams { styleModel } } }`,
      { id: runId },
    );
    expect(stored.data!.run).toMatchObject({
      engine: 'FAST',
      status: 'SUCCEEDED',
      fastParams: { styleModel: 'mosaic' },
    });
    expect(Math.max(stored.data!.run.width, stored.data!.run.height)).toBe(96);
  });
});
