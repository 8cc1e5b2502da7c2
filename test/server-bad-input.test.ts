// Bad input over real HTTP: each request gets a typed error with a code, and the database and image folder are
// exactly as they were. Small upload limits make the size cases cheap.
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/config.js';
import { CANCEL_RUN, RUN_EVENTS, START_TRANSFER, UPLOAD_STYLE, footprint, gql, gqlUpload, startTestServer, subscribeAll, wsClient, type TestServer } from './helpers/server.js';
import { contentImage, readShared, styleImage } from './helpers/shared.js';

let server: TestServer;
let styleId: string;
let presetId: string;
let contentImageId: string;
let scream: Uint8Array;

const MAX_UPLOAD_BYTES = 150_000;

beforeAll(async () => {
  server = await startTestServer({ MAX_UPLOAD_BYTES: String(MAX_UPLOAD_BYTES), MAX_IMAGE_PIXELS: '2000000', MAX_QUERY_DEPTH: '6' });
  scream = await readShared(styleImage('the_scream.jpg'));
  const style = await gqlUpload(server.url, UPLOAD_STYLE, { input: { name: 'Udnie', image: null } }, { 'input.image': { bytes: await readShared(styleImage('udnie.jpg')) } });
  styleId = style.data!.uploadStyle.id;
  presetId = (await gql(server.url, `{ presets { id name } }`)).data!.presets.find((p: { name: string }) => p.name === 'Quick preview').id;
  const run = await gqlUpload(server.url, START_TRANSFER, { input: { content: null, styles: [{ styleId }], params: { size: 40, steps: 1 } } }, {
    'input.content': { bytes: await readShared(contentImage('golden_gate.jpg')) },
  });
  await subscribeAll(wsClient(server.url), RUN_EVENTS, { runId: run.data!.startTransfer.id });
  contentImageId = (await gql(server.url, `{ runs(first: 1) { edges { node { content { id } } } } }`)).data!.runs.edges[0].node.content.id;
});

afterAll(async () => {
  await server.stop();
});

type Send = () => Promise<{ status?: number; data?: Record<string, any>; errors?: { message: string; extensions?: Record<string, unknown> }[] }>;

const upload = (input: Record<string, unknown>, bytes: Uint8Array | (() => Promise<Uint8Array>)): Send => async () =>
  gqlUpload(server.url, UPLOAD_STYLE, { input: { image: null, ...input } }, { 'input.image': { bytes: typeof bytes === 'function' ? await bytes() : bytes } });
/** Inputs are built when the case runs: the ids exist only once beforeAll has run. */
const startWith = (input: () => Record<string, unknown>): Send => () => gql(server.url, START_TRANSFER, { input: { contentImageId, styles: [{ styleId }], ...input() } });

/** [case, request, the result's __typename or "top-level", its code, field (when there is one)] */
const CASES: [string, Send, string, string, string?][] = [
  ['a text file as a style', upload({ name: 'text' }, new TextEncoder().encode('not an image at all')), 'InputError', 'NOT_AN_IMAGE', 'image'],
  ['a truncated JPEG', upload({ name: 'cut' }, async () => (await readShared(styleImage('udnie.jpg'))).subarray(0, 2000)), 'InputError', 'NOT_AN_IMAGE', 'image'],
  ['an empty file', upload({ name: 'empty' }, new Uint8Array()), 'InputError', 'NOT_AN_IMAGE', 'image'],
  ['too many bytes', upload({ name: 'big' }, () => readShared(styleImage('the_scream.jpg'))), 'ImageTooLargeError', 'IMAGE_TOO_LARGE', 'image'],
  ['far too many bytes (stopped by the parser)', upload({ name: 'huge' }, () => readShared(contentImage('tubingen.jpg'))), 'top-level', 'IMAGE_TOO_LARGE'],
  ['too many pixels', upload({ name: 'wide' }, () => sharp({ create: { width: 2000, height: 1500, channels: 3, background: '#345' } }).png().toBuffer()), 'ImageTooLargeError', 'IMAGE_TOO_LARGE', 'image'],
  ['an empty style name', upload({ name: '  ' }, () => readShared(styleImage('udnie.jpg'))), 'InputError', 'INVALID_INPUT', 'name'],
  ['a taken style name', upload({ name: 'Udnie' }, () => readShared(styleImage('mosaic.jpg'))), 'ConflictError', 'CONFLICT'],
  ['21 tags', upload({ name: 'tagged', tags: Array.from({ length: 21 }, (_, i) => `t${i}`) }, () => readShared(styleImage('mosaic.jpg'))), 'InputError', 'INVALID_INPUT', 'tags'],
  ['an unknown style', startWith(() => ({ styles: [{ styleId: 'U3R5bGU6bm9uZQ==' }] })), 'NotFoundError', 'NOT_FOUND'],
  ['a malformed style id', startWith(() => ({ styles: [{ styleId: '%%%' }] })), 'NotFoundError', 'NOT_FOUND'],
  ['a preset id given as a style id', () => gql(server.url, START_TRANSFER, { input: { contentImageId, styles: [{ styleId: presetId }] } }), 'NotFoundError', 'NOT_FOUND'],
  ['an unknown preset', startWith(() => ({ presetId: 'UHJlc2V0Om5vbmU=' })), 'NotFoundError', 'NOT_FOUND'],
  ['an unknown content image', startWith(() => ({ contentImageId: 'SW1hZ2U6MDAw' })), 'NotFoundError', 'NOT_FOUND'],
  ['no content at all', () => gql(server.url, START_TRANSFER, { input: { styles: [{ styleId }] } }), 'InputError', 'INVALID_INPUT', 'content'],
  ['no styles', startWith(() => ({ styles: [] })), 'InputError', 'INVALID_INPUT', 'styles'],
  ['all style weights 0', startWith(() => ({ styles: [{ styleId, weight: 0 }] })), 'InputError', 'INVALID_INPUT', 'styles'],
  ['a negative style weight', startWith(() => ({ styles: [{ styleId, weight: -1 }] })), 'InputError', 'INVALID_INPUT', 'styles[0].weight'],
  ['size out of range', startWith(() => ({ params: { size: 5000 } })), 'InputError', 'INVALID_INPUT', 'params.size'],
  ['more pixels than the backend holds', startWith(() => ({ params: { size: 2000 } })), 'InputError', 'INVALID_INPUT', 'params.size'],
  ['zero steps', startWith(() => ({ params: { steps: 0 } })), 'InputError', 'INVALID_INPUT', 'params.steps'],
  ['a negative style weight parameter', startWith(() => ({ params: { styleWeight: -5 } })), 'InputError', 'INVALID_INPUT', 'params.styleWeight'],
  ['an unknown layer', startWith(() => ({ params: { styleLayers: ['relu9_9'] } })), 'InputError', 'INVALID_INPUT', 'params.styleLayers[0]'],
  ['too many scales for the size', startWith(() => ({ params: { size: 64, scales: 3 } })), 'InputError', 'INVALID_INPUT', 'params.scales'],
  ['a preset with bad parameters', () => gql(server.url, `mutation { createPreset(input: { name: "bad", params: { tvWeight: -1 } }) { __typename ... on Error { code } ... on InputError { field } } }`), 'InputError', 'INVALID_INPUT'],
  ['a taken preset name', () => gql(server.url, `mutation { createPreset(input: { name: "Balanced", params: {} }) { __typename ... on Error { code } } }`), 'ConflictError', 'CONFLICT'],
  ['updating an unknown preset', () => gql(server.url, `mutation { updatePreset(id: "UHJlc2V0Om5vbmU=", input: { name: "x" }) { __typename ... on Error { code } } }`), 'NotFoundError', 'NOT_FOUND'],
  ['deleting an unknown style', () => gql(server.url, `mutation { deleteStyle(id: "U3R5bGU6bm9uZQ==") { __typename ... on Error { code } } }`), 'NotFoundError', 'NOT_FOUND'],
  ['cancelling an unknown run', () => gql(server.url, `mutation { cancelRun(id: "UnVuOm5vbmU=") { __typename ... on Error { code } } }`), 'NotFoundError', 'NOT_FOUND'],
  ['a malformed multipart request', async () => {
    const form = new FormData();
    form.set('operations', '{not json');
    const response = await fetch(`${server.url}/graphql`, { method: 'POST', body: form });
    return { status: response.status, ...(await response.json()) };
  }, 'top-level', 'BAD_REQUEST'],
  ['a query too deep', () => gql(server.url, `{ runs { edges { node { styles { style { image { id } } } } } } }`), 'top-level', 'QUERY_TOO_COMPLEX'],
];

describe('bad input', () => {
  it.each(CASES)('%s → typed error, nothing written', async (_, send, typename, code, field) => {
    const before = await footprint(server);
    const response = await send();
    if (typename === 'top-level') {
      expect(response.errors?.length).toBeGreaterThan(0);
      expect(response.errors!.map((e) => e.extensions?.code)).toContain(code);
    } else {
      const result = Object.values(response.data ?? {})[0] as Record<string, unknown>;
      expect(response.errors).toBeUndefined();
      expect(result).toMatchObject({ __typename: typename, code });
      if (field) expect(result.field).toBe(field);
    }
    expect(await footprint(server)).toEqual(before);
  });

  it('names the largest size that fits when the output is too big for the backend', async () => {
    const response = await gql(server.url, START_TRANSFER, { input: { contentImageId, styles: [{ styleId }], params: { size: 2000 } } });
    expect(response.data!.startTransfer.validValues).toMatch(/^size ≤ \d+ for this image$/);
  });

  it('refuses to delete a style a queued run needs, then allows it once the runs are gone', async () => {
    const { data: created } = await gqlUpload(server.url, UPLOAD_STYLE, { input: { name: 'temporary', image: null } }, { 'input.image': { bytes: await readShared(styleImage('mosaic.jpg')) } });
    const temporary = created!.uploadStyle.id;
    const blocker = await gql(server.url, START_TRANSFER, { input: { contentImageId, styles: [{ styleId }], params: { size: 64, steps: 500, previewEvery: 0 } } });
    const waiting = await gql(server.url, START_TRANSFER, { input: { contentImageId, styles: [{ styleId: temporary }], params: { size: 40, steps: 2 } } });
    const refused = await gql(server.url, `mutation ($id: ID!) { deleteStyle(id: $id) { __typename ... on Error { code message } } }`, { id: temporary });
    expect(refused.data!.deleteStyle).toMatchObject({ __typename: 'ConflictError', code: 'CONFLICT' });
    for (const run of [waiting, blocker]) await gql(server.url, CANCEL_RUN, { id: run.data!.startTransfer.id });
    const deleted = await gql(server.url, `mutation ($id: ID!) { deleteStyle(id: $id) { __typename ... on Deleted { deletedId } } }`, { id: temporary });
    expect(deleted.data!.deleteStyle).toEqual({ __typename: 'Deleted', deletedId: temporary });
    // The cancelled run keeps the deleted style's name and image.
    const history = await gql(server.url, `query ($id: ID!) { run(id: $id) { styles { name style { id } image { url } } } }`, { id: waiting.data!.startTransfer.id });
    expect(history.data!.run.styles[0]).toMatchObject({ name: 'temporary', style: null });
  });

  it('keeps serving after a subscription to a run that does not exist', async () => {
    const client = wsClient(server.url);
    await expect(subscribeAll(client, RUN_EVENTS, { runId: 'UnVuOm5vbmU=' })).rejects.toThrow(/no Run with id/);
    await client.dispose();
    expect((await gql(server.url, `{ engine { backend } }`)).data!.engine.backend).toBeTruthy();
  });
});

describe('configuration', () => {
  it('reports every problem at once, naming the variable', () => {
    let error: unknown;
    try {
      loadConfig({ PORT: 'eighty', DATABASE_URL: 'postgres://x', GRAMIAN_BACKEND: 'webgpu', MAX_UPLOAD_BYTES: '-1' });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).problems).toHaveLength(4);
    for (const name of ['PORT=eighty', 'DATABASE_URL=postgres://x', 'GRAMIAN_BACKEND=webgpu', 'MAX_UPLOAD_BYTES=-1']) expect((error as Error).message).toContain(name);
  });
});
