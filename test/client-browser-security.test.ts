// Browsers, in a real Chromium against real servers. A page served from another origin (a second small HTTP server
// on another port of 127.0.0.1) tries what a forged page would: a multipart mutation (fetch and a plain HTML form), a
// JSON one, and a graphql-ws socket carrying a mutation; none of them runs, while a page of an origin listed in
// CORS_ORIGINS gets through with the header (and still not without it). Then, on a server that needs credentials
// (GRAMIAN_AUTH=keys), the web page and GraphiQL ask for an API key, ask again when it is refused, and send it on
// every request and on the socket. test/server-browser-security.test.ts checks the same rules at the HTTP level.
import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { type BrowserContext, type Page } from 'playwright-core';
import { CHROMIUM, launchChromium, RUN_BROWSER } from './helpers/browser.js';
import { build } from 'vite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { revokeApiKey } from '../src/auth/api-keys.js';
import { bearerKey, footprint, gql, startTestServer, type TestServer } from './helpers/server.js';
import { REPO_ROOT, contentImage, styleImage } from './helpers/shared.js';

if (!RUN_BROWSER)
  console.warn(`client-browser-security: skipped, ${CHROMIUM} is missing (apt-get install chromium; .ci/run has it)`);

/** Generous: a condition, never a duration, is what the test waits for. */
const WAIT = { timeout: 60_000 };

let distDir: string;
/** Needs no credentials (auto on loopback): what a forged page would aim at. Lists `listedOrigin`. */
let open: TestServer;
/** GRAMIAN_AUTH=keys, serving the web page. */
let keyed: TestServer;
let foreign: http.Server;
let listed: http.Server;
let foreignOrigin: string;
let listedOrigin: string;
let context: BrowserContext | undefined;
let page: Page;

/** A site of its own: a blank page at every path. */
async function blankSite(): Promise<[http.Server, string]> {
  const site = http.createServer((_request, response) => {
    response.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end('<!doctype html><title>other</title>');
  });
  await new Promise<void>((resolve) => site.listen(0, '127.0.0.1', resolve));
  return [site, `http://127.0.0.1:${(site.address() as AddressInfo).port}`];
}

beforeAll(async () => {
  [foreign, foreignOrigin] = await blankSite();
  [listed, listedOrigin] = await blankSite();
  open = await startTestServer({ CORS_ORIGINS: listedOrigin });
  if (!RUN_BROWSER) return;
  distDir = await mkdtemp(path.join(os.tmpdir(), 'gramian-client-keys-'));
  await build({
    configFile: path.join(REPO_ROOT, 'client-example/web/vite.config.ts'),
    build: { outDir: distDir, emptyOutDir: true, sourcemap: false },
    logLevel: 'warn',
  });
  keyed = await startTestServer({ GRAMIAN_AUTH: 'keys', CLIENT_DIR: distDir });
  context = await launchChromium();
  page = context.pages()[0] ?? (await context.newPage());
  page.on('pageerror', (error) => console.error(`page error: ${error.message}`));
});

afterAll(async () => {
  await context?.close();
  await open?.stop();
  await keyed?.stop();
  foreign?.close();
  listed?.close();
  if (distDir) await rm(distDir, { recursive: true, force: true });
});

/** What each attempt of a page at `from` against the open server came to, as that page saw it. */
interface Outcomes {
  /** fetch(multipart, mode no-cors): the page cannot read the answer, whatever it was. */
  multipartNoCors: string;
  /** A plain <form enctype=multipart/form-data> posted into a frame, the classic forgery. */
  multipartForm: string;
  /** fetch(multipart) with the CSRF header: a CORS request, preflighted. */
  multipartWithHeader: string;
  /** fetch(JSON mutation): preflighted. */
  json: string;
  /** A graphql-ws socket (raw protocol) sending a mutation. */
  socket: string;
}

async function attempt(from: string, label: string): Promise<Outcomes> {
  await page.goto(`${from}/forged`);
  return page.evaluate(
    async ({ target, label }) => {
      const UPLOAD = `mutation ($input: UploadStyleInput!) { uploadStyle(input: $input) { __typename } }`;
      const preset = (how: string) =>
        `mutation { createPreset(input: { name: "${how} ${label}", params: { size: 64 } }) { __typename } }`;
      // A small PNG drawn here: what the page would upload as a style.
      const canvas = Object.assign(document.createElement('canvas'), { width: 32, height: 32 });
      canvas.getContext('2d')!.fillRect(4, 4, 16, 16);
      const png = await new Promise<Blob>((resolve) => canvas.toBlob((blob) => resolve(blob!), 'image/png'));
      const operations = (how: string) =>
        JSON.stringify({ query: UPLOAD, variables: { input: { name: `${how} ${label}`, image: null } } });
      const map = JSON.stringify({ 0: ['variables.input.image'] });
      const multipart = (how: string) => {
        const form = new FormData();
        form.set('operations', operations(how));
        form.set('map', map);
        form.set('0', new File([png], 'style.png', { type: 'image/png' }));
        return form;
      };
      const outcome = async (request: () => Promise<string>) => {
        try {
          return await request();
        } catch (error) {
          return `blocked: ${(error as Error).name}`;
        }
      };

      const multipartNoCors = await outcome(async () => {
        const response = await fetch(`${target}/graphql`, {
          method: 'POST',
          mode: 'no-cors',
          body: multipart('no-cors'),
        });
        return response.type;
      });

      const multipartForm = await new Promise<string>((resolve) => {
        const frame = Object.assign(document.createElement('iframe'), { name: 'sink' });
        const form = Object.assign(document.createElement('form'), {
          method: 'post',
          enctype: 'multipart/form-data',
          action: `${target}/graphql`,
          target: 'sink',
        });
        const field = (name: string, value: string) =>
          form.append(Object.assign(document.createElement('input'), { type: 'hidden', name, value }));
        field('operations', operations('form'));
        field('map', map);
        const file = Object.assign(document.createElement('input'), { type: 'file', name: '0' });
        const files = new DataTransfer();
        files.items.add(new File([png], 'style.png', { type: 'image/png' }));
        file.files = files.files;
        form.append(file);
        document.body.append(frame, form);
        // Once the frame holds the server's answer (another origin's document, unreadable here), not about:blank.
        frame.addEventListener('load', () => {
          try {
            void frame.contentWindow!.location.href;
          } catch {
            resolve('submitted');
          }
        });
        form.submit();
      });

      const multipartWithHeader = await outcome(async () => {
        const response = await fetch(`${target}/graphql`, {
          method: 'POST',
          body: multipart('with header'),
          headers: { 'graphql-require-preflight': '1' },
        });
        const body = (await response.json()) as { data?: { uploadStyle?: { __typename: string } } };
        return body.data?.uploadStyle?.__typename ?? `HTTP ${response.status}`;
      });

      const json = await outcome(async () => {
        const response = await fetch(`${target}/graphql`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ query: preset('json') }),
        });
        const body = (await response.json()) as { data?: { createPreset?: { __typename: string } } };
        return body.data?.createPreset?.__typename ?? `HTTP ${response.status}`;
      });

      const socket = await new Promise<string>((resolve) => {
        const events: string[] = [];
        const ws = new WebSocket(`${target.replace(/^http/, 'ws')}/graphql`, 'graphql-transport-ws');
        ws.onopen = () => {
          events.push('open');
          ws.send(JSON.stringify({ type: 'connection_init', payload: {} }));
        };
        ws.onmessage = (message) => {
          const data = JSON.parse(String(message.data)) as { type: string; payload?: any };
          events.push(data.type === 'next' ? `next ${data.payload?.data?.createPreset?.__typename}` : data.type);
          if (data.type === 'connection_ack')
            ws.send(JSON.stringify({ id: '1', type: 'subscribe', payload: { query: preset('socket') } }));
          if (data.type === 'complete' || data.type === 'error') ws.close(1000);
        };
        ws.onerror = () => events.push('error');
        ws.onclose = (event) => {
          events.push(`close ${event.code}`);
          resolve(events.join(', '));
        };
      });

      return { multipartNoCors, multipartForm, multipartWithHeader, json, socket };
    },
    { target: open.url, label },
  );
}

const named = async (label: string) => ({
  styles: (await open.services.db.style.findMany({ where: { name: { endsWith: label } } })).map((s) => s.name),
  presets: (await open.services.db.preset.findMany({ where: { name: { endsWith: label } } })).map((p) => p.name),
});

describe.skipIf(!RUN_BROWSER)('a page of another origin', () => {
  it('cannot make the server run anything: no multipart or JSON mutation, no socket', async () => {
    const before = await footprint(open);
    const outcomes = await attempt(foreignOrigin, 'from a foreign page');
    expect(outcomes).toEqual({
      // Sent, but refused by the server (no CSRF header); the page cannot tell.
      multipartNoCors: 'opaque',
      multipartForm: 'submitted',
      // Never sent: the preflight got no CORS headers.
      multipartWithHeader: 'blocked: TypeError',
      json: 'blocked: TypeError',
      // Refused at the upgrade (HTTP 403): the page sees a failed connection.
      socket: 'error, close 1006',
    });
    expect(await footprint(open)).toEqual(before);
    expect(await named('from a foreign page')).toEqual({ styles: [], presets: [] });
  });

  it('of a listed origin gets through with the header, over the socket, and still not without the header', async () => {
    const outcomes = await attempt(listedOrigin, 'from a listed page');
    expect(outcomes).toEqual({
      multipartNoCors: 'opaque',
      multipartForm: 'submitted',
      multipartWithHeader: 'Style',
      json: 'Preset',
      socket: 'open, connection_ack, next Preset, complete, close 1000',
    });
    expect(await named('from a listed page')).toEqual({
      styles: ['with header from a listed page'],
      presets: expect.arrayContaining(['json from a listed page', 'socket from a listed page']) as string[],
    });
  });
});

describe.skipIf(!RUN_BROWSER)('the web page, where the server needs a key', () => {
  const dialog = (reason: string) => page.locator(`dialog.key-dialog[open][data-reason=${reason}]`);
  let alice: string;
  let key: string;
  let presetId: string;

  beforeAll(async () => {
    alice = await bearerKey(keyed, 'alice', ['run', 'manage']);
    key = alice.slice('Bearer '.length);
    const created = await gql(
      keyed.url,
      `mutation ($input: CreatePresetInput!) { createPreset(input: $input) { __typename ... on Preset { id } } }`,
      { input: { name: 'tiny-keyed', params: { size: 48, steps: 10, previewEvery: 5 } } },
      { authorization: alice },
    );
    presetId = created.data!.createPreset.id;
  });

  it('asks for a key, asks again when it is refused, then loads and runs a transfer with it', async () => {
    await page.goto(keyed.url);
    await dialog('required').waitFor(WAIT);
    // Well-formed, but no such key.
    await page.locator('input[name=api-key]').fill(`gmn_${'x'.repeat(43)}`);
    await page.getByRole('button', { name: 'Use key' }).click();
    await dialog('refused').waitFor(WAIT);
    await page.locator('input[name=api-key]').fill(key);
    await page.getByRole('button', { name: 'Use key' }).click();

    // The socket is up with the key (the server closes it with 4403 otherwise), and the catalogue is in.
    await page.locator('#connection[data-state=connected]').waitFor(WAIT);
    expect(await page.locator('#account .key-label').textContent()).toBe(`key ${key.slice(0, 12)}…`);
    await page.locator(`select[name=preset] option[value="${presetId}"]`).waitFor({ state: 'attached', ...WAIT });

    await page.locator('input[name=content-file]').setInputFiles(contentImage('golden_gate.jpg'));
    await page.locator('.content-preview img').waitFor(WAIT);
    await page.locator('input[name=style-file]').setInputFiles(styleImage('the_scream.jpg'));
    await page.locator('input[name=style-name]').fill('The Scream');
    await page.getByRole('button', { name: 'Add style' }).click();
    await page.locator('[data-style-name="The Scream"].selected').waitFor(WAIT);
    await page.locator('select[name=preset]').selectOption(presetId);
    await page.getByRole('button', { name: 'Start transfer' }).click();
    await page.locator('.run-view[data-status=SUCCEEDED]').waitFor(WAIT);
    // Every step came over the socket, live.
    await page.waitForFunction(
      () => document.querySelector('.run-view [data-role=loss-chart]')?.getAttribute('data-points') === '10',
      undefined,
      WAIT,
    );
    const { db } = keyed.services;
    expect(await db.run.findMany({ select: { owner: true, status: true } })).toEqual([
      { owner: 'alice', status: 'SUCCEEDED' },
    ]);
    expect((await db.style.findMany({ select: { owner: true } })).map((s) => s.owner)).toEqual(['alice']);
  });

  it('keeps the key across reloads, and asks again after Sign out', async () => {
    await page.reload();
    await page.locator('#connection[data-state=connected]').waitFor(WAIT);
    expect(await page.locator('dialog.key-dialog').count()).toBe(0);

    await page.getByRole('button', { name: 'Sign out' }).click();
    await dialog('required').waitFor(WAIT);
    expect(await page.locator('#account').isHidden()).toBe(true);
    await page.locator('input[name=api-key]').fill(key);
    await page.getByRole('button', { name: 'Use key' }).click();
    await page.locator('#connection[data-state=connected]').waitFor(WAIT);
  });

  it('asks again when the key is revoked, and sends the refused request again with the new one', async () => {
    // The open socket stays as it is: the upload (POST /images) is what the server refuses.
    await revokeApiKey(keyed.services.db, key.slice(0, 12));
    await page.locator('input[name=style-file]').setInputFiles(styleImage('udnie.jpg'));
    await page.locator('input[name=style-name]').fill('Udnie');
    // The page may make another request with the revoked key first (its form then covers the button): the click
    // lands once the form is answered, and the upload goes with the new key either way.
    const added = page.getByRole('button', { name: 'Add style' }).click(WAIT);
    await dialog('refused').waitFor(WAIT);
    const bob = (await bearerKey(keyed, 'bob', ['run', 'manage'])).slice('Bearer '.length);
    await page.locator('input[name=api-key]').fill(bob);
    await page.getByRole('button', { name: 'Use key' }).click();
    await added;
    await page.locator('[data-style-name="Udnie"].selected').waitFor(WAIT);
    expect(await page.locator('#account .key-label').textContent()).toBe(`key ${bob.slice(0, 12)}…`);
    const udnie = await keyed.services.db.style.findMany({ where: { name: 'Udnie' }, select: { owner: true } });
    expect(udnie).toEqual([{ owner: 'bob' }]);
    // And the next socket opens with it.
    await page.reload();
    await page.locator('#connection[data-state=connected]').waitFor(WAIT);
    expect(await page.locator('dialog.key-dialog').count()).toBe(0);
  });

  it('GraphiQL asks for the key too, and sends it with its requests and on its socket', async () => {
    const carol = (await bearerKey(keyed, 'alice', ['read'], 'alice in GraphiQL')).slice('Bearer '.length);
    const [run] = await keyed.services.db.run.findMany({ select: { id: true } });
    const runId = Buffer.from(`Run:${run!.id}`).toString('base64');
    await page.evaluate(() => localStorage.clear());
    const query = `subscription { runEvents(runId: "${runId}") { __typename } }`;
    await page.goto(`${keyed.url}/graphql?query=${encodeURIComponent(query)}`);
    const form = page.locator('.gramian-key[data-reason=required]');
    await form.waitFor(WAIT);
    // GraphiQL reads the schema with the key as soon as it starts.
    const introspected = page.waitForResponse(
      (response) =>
        response.url() === `${keyed.url}/graphql` &&
        response.request().method() === 'POST' &&
        response.request().headers().authorization === `Bearer ${carol}` &&
        (response.request().postData() ?? '').includes('__schema'),
      WAIT,
    );
    await form.locator('input[name=api-key]').fill(carol);
    await form.getByRole('button', { name: 'Use key' }).click();
    expect((await introspected).status()).toBe(200);

    // The subscription goes over graphql-ws: without the key the socket would close with 4403 and show no event.
    await page.locator('.graphiql-execute-button').click();
    await page.locator('.graphiql-response', { hasText: 'RunSnapshot' }).waitFor(WAIT);
    await page.getByRole('button', { name: 'Sign out' }).waitFor(WAIT);
  });
});
