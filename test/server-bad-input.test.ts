// Bad input over real HTTP: each request gets a typed error with a code, and the database and image folder are
// exactly as they were. Small upload limits make the size cases cheap.
import http from 'node:http';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/config.js';
import { MAX_QUERY_TOKENS } from '../src/http/query-limits.js';
import {
  CANCEL_RUN,
  RUN_EVENTS,
  START_TRANSFER,
  UPLOAD_STYLE,
  footprint,
  gql,
  gqlUpload,
  startTestServer,
  subscribeAll,
  wsClient,
  type GraphQLResponse,
  type TestServer,
} from './helpers/server.js';
import { contentImage, readShared, styleImage } from './helpers/shared.js';

let server: TestServer;
let styleId: string;
let presetId: string;
let contentImageId: string;
let thinStyleId: string;
/** 4000×1: at any size the engine allows, its short side rounds to far below the 16 px the network needs. */
let sliver: Uint8Array;
/** 200×40: too thin at size 64 (13 px), fine from size 78. */
let strip: Uint8Array;

const MAX_UPLOAD_BYTES = 150_000;

beforeAll(async () => {
  server = await startTestServer({
    MAX_UPLOAD_BYTES: String(MAX_UPLOAD_BYTES),
    MAX_IMAGE_PIXELS: '2000000',
    MAX_QUERY_DEPTH: '6',
  });
  const style = await gqlUpload(
    server.url,
    UPLOAD_STYLE,
    { input: { name: 'Udnie', image: null } },
    { 'input.image': { bytes: await readShared(styleImage('udnie.jpg')) } },
  );
  styleId = style.data!.uploadStyle.id;
  presetId = (await gql(server.url, `{ presets { id name } }`)).data!.presets.find(
    (p: { name: string }) => p.name === 'Quick preview',
  ).id;
  const run = await gqlUpload(
    server.url,
    START_TRANSFER,
    { input: { content: null, styles: [{ styleId }], params: { size: 40, steps: 1 } } },
    {
      'input.content': { bytes: await readShared(contentImage('golden_gate.jpg')) },
    },
  );
  await subscribeAll(wsClient(server.url), RUN_EVENTS, { runId: run.data!.startTransfer.id });
  contentImageId = (await gql(server.url, `{ runs(first: 1) { edges { node { content { id } } } } }`)).data!.runs
    .edges[0].node.content.id;
  sliver = await solidPng(4000, 1);
  strip = await solidPng(200, 40);
  const thinStyle = { input: { name: 'Sliver', image: null } };
  const thin = await gqlUpload(server.url, UPLOAD_STYLE, thinStyle, { 'input.image': { bytes: sliver } });
  thinStyleId = thin.data!.uploadStyle.id;
});

function solidPng(width: number, height: number): Promise<Uint8Array> {
  return sharp({ create: { width, height, channels: 3, background: '#345' } })
    .png()
    .toBuffer();
}

afterAll(async () => {
  await server.stop();
});

type Send = () => Promise<{
  status?: number;
  data?: Record<string, any>;
  errors?: { message: string; extensions?: Record<string, unknown> }[];
}>;

const upload =
  (input: Record<string, unknown>, bytes: Uint8Array | (() => Promise<Uint8Array>)): Send =>
  async () =>
    gqlUpload(
      server.url,
      UPLOAD_STYLE,
      { input: { image: null, ...input } },
      { 'input.image': { bytes: typeof bytes === 'function' ? await bytes() : bytes } },
    );
/** Inputs are built when the case runs: the ids exist only once beforeAll has run. */
const startWith =
  (input: () => Record<string, unknown>): Send =>
  () =>
    gql(server.url, START_TRANSFER, { input: { contentImageId, styles: [{ styleId }], ...input() } });

/** A GATYS transfer of an uploaded content image with the first style. */
const startUpload = (content: Uint8Array, params: Record<string, unknown>) => {
  const input = { content: null, styles: [{ styleId }], params };
  return gqlUpload(server.url, START_TRANSFER, { input }, { 'input.content': { bytes: content } });
};
/** 315 KB: over twice MAX_UPLOAD_BYTES, within the request body limit (2 × MAX_UPLOAD_BYTES + 64 KiB). */
const starryNight = () => readShared(styleImage('starry_night.jpg'));
/** 407 KB: over the request body limit. */
const tubingen = () => readShared(contentImage('tubingen.jpg'));

/** [case, request, the result's __typename or "top-level", its code, field (when there is one)] */
const CASES: [string, Send, string, string, string?][] = [
  [
    'a text file as a style',
    upload({ name: 'text' }, new TextEncoder().encode('not an image at all')),
    'InputError',
    'NOT_AN_IMAGE',
    'image',
  ],
  [
    'a truncated JPEG',
    upload({ name: 'cut' }, async () => (await readShared(styleImage('udnie.jpg'))).subarray(0, 2000)),
    'InputError',
    'NOT_AN_IMAGE',
    'image',
  ],
  ['an empty file', upload({ name: 'empty' }, new Uint8Array()), 'InputError', 'NOT_AN_IMAGE', 'image'],
  [
    'too many bytes',
    upload({ name: 'big' }, () => readShared(styleImage('the_scream.jpg'))),
    'ImageTooLargeError',
    'IMAGE_TOO_LARGE',
    'image',
  ],
  // Over twice the upload limit, but within the request body limit: the resolver, not the parser, refuses it.
  ['over 2× the limit', upload({ name: 'starry' }, starryNight), 'ImageTooLargeError', 'IMAGE_TOO_LARGE', 'image'],
  ['far too many bytes (refused unread)', upload({ name: 'huge' }, tubingen), 'top-level', 'IMAGE_TOO_LARGE'],
  [
    'too many pixels',
    upload({ name: 'wide' }, () =>
      sharp({ create: { width: 2000, height: 1500, channels: 3, background: '#345' } })
        .png()
        .toBuffer(),
    ),
    'ImageTooLargeError',
    'IMAGE_TOO_LARGE',
    'image',
  ],
  [
    'an empty style name',
    upload({ name: '  ' }, () => readShared(styleImage('udnie.jpg'))),
    'InputError',
    'INVALID_INPUT',
    'name',
  ],
  [
    'a taken style name',
    upload({ name: 'Udnie' }, () => readShared(styleImage('mosaic.jpg'))),
    'ConflictError',
    'CONFLICT',
  ],
  [
    '21 tags',
    upload({ name: 'tagged', tags: Array.from({ length: 21 }, (_, i) => `t${i}`) }, () =>
      readShared(styleImage('mosaic.jpg')),
    ),
    'InputError',
    'INVALID_INPUT',
    'tags',
  ],
  ['an unknown style', startWith(() => ({ styles: [{ styleId: 'U3R5bGU6bm9uZQ==' }] })), 'NotFoundError', 'NOT_FOUND'],
  ['a malformed style id', startWith(() => ({ styles: [{ styleId: '%%%' }] })), 'NotFoundError', 'NOT_FOUND'],
  [
    'a preset id given as a style id',
    () => gql(server.url, START_TRANSFER, { input: { contentImageId, styles: [{ styleId: presetId }] } }),
    'NotFoundError',
    'NOT_FOUND',
  ],
  ['an unknown preset', startWith(() => ({ presetId: 'UHJlc2V0Om5vbmU=' })), 'NotFoundError', 'NOT_FOUND'],
  ['an unknown content image', startWith(() => ({ contentImageId: 'SW1hZ2U6MDAw' })), 'NotFoundError', 'NOT_FOUND'],
  [
    'no content at all',
    () => gql(server.url, START_TRANSFER, { input: { styles: [{ styleId }] } }),
    'InputError',
    'INVALID_INPUT',
    'content',
  ],
  ['no styles', startWith(() => ({ styles: [] })), 'InputError', 'INVALID_INPUT', 'styles'],
  [
    'all style weights 0',
    startWith(() => ({ styles: [{ styleId, weight: 0 }] })),
    'InputError',
    'INVALID_INPUT',
    'styles',
  ],
  [
    'a negative style weight',
    startWith(() => ({ styles: [{ styleId, weight: -1 }] })),
    'InputError',
    'INVALID_INPUT',
    'styles[0].weight',
  ],
  ['size out of range', startWith(() => ({ params: { size: 5000 } })), 'InputError', 'INVALID_INPUT', 'params.size'],
  ['zero steps', startWith(() => ({ params: { steps: 0 } })), 'InputError', 'INVALID_INPUT', 'params.steps'],
  [
    'a negative style weight parameter',
    startWith(() => ({ params: { styleWeight: -5 } })),
    'InputError',
    'INVALID_INPUT',
    'params.styleWeight',
  ],
  [
    'an unknown layer',
    startWith(() => ({ params: { styleLayers: ['relu9_9'] } })),
    'InputError',
    'INVALID_INPUT',
    'params.styleLayers[0]',
  ],
  [
    'too many scales for the size',
    startWith(() => ({ params: { size: 64, scales: 3 } })),
    'InputError',
    'INVALID_INPUT',
    'params.scales',
  ],
  ['content too thin for any size', () => startUpload(sliver, { size: 64 }), 'InputError', 'INVALID_INPUT', 'content'],
  ['content too thin for a size', () => startUpload(strip, { size: 64 }), 'InputError', 'INVALID_INPUT', 'params.size'],
  [
    'content too thin at the coarsest scale',
    () => startUpload(strip, { size: 128, scales: 2 }),
    'InputError',
    'INVALID_INPUT',
    'params.size',
  ],
  [
    'a style image too thin for the size',
    startWith(() => ({ styles: [{ styleId: thinStyleId }], params: { size: 64 } })),
    'InputError',
    'INVALID_INPUT',
    'styles[0].styleId',
  ],
  [
    'a preset with bad parameters',
    () =>
      gql(
        server.url,
        `mutation {
          createPreset(input: { name: "bad", params: { tvWeight: -1 } }) {
            __typename ... on Error { code } ... on InputError { field }
          }
        }`,
      ),
    'InputError',
    'INVALID_INPUT',
  ],
  [
    'a taken preset name',
    () =>
      gql(
        server.url,
        `mutation { createPreset(input: { name: "Balanced", params: {} }) { __typename ... on Error { code } } }`,
      ),
    'ConflictError',
    'CONFLICT',
  ],
  [
    'updating an unknown preset',
    () =>
      gql(
        server.url,
        `mutation { updatePreset(id: "UHJlc2V0Om5vbmU=", input: { name: "x" }) { __typename ... on Error { code } } }`,
      ),
    'NotFoundError',
    'NOT_FOUND',
  ],
  [
    'deleting an unknown style',
    () => gql(server.url, `mutation { deleteStyle(id: "U3R5bGU6bm9uZQ==") { __typename ... on Error { code } } }`),
    'NotFoundError',
    'NOT_FOUND',
  ],
  [
    'cancelling an unknown run',
    () => gql(server.url, `mutation { cancelRun(id: "UnVuOm5vbmU=") { __typename ... on Error { code } } }`),
    'NotFoundError',
    'NOT_FOUND',
  ],
  [
    'a malformed multipart request',
    async () => {
      const form = new FormData();
      form.set('operations', '{not json');
      const headers = { 'graphql-require-preflight': '1' };
      const response = await fetch(`${server.url}/graphql`, { method: 'POST', body: form, headers });
      return { status: response.status, ...(await response.json()) };
    },
    'top-level',
    'BAD_REQUEST',
  ],
  [
    'a query too deep',
    () => gql(server.url, `{ runs { edges { node { styles { style { image { id } } } } } } }`),
    'top-level',
    'QUERY_TOO_COMPLEX',
  ],
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

  it("names the largest output side past MAX_OUTPUT_SIDE (past the backend's own limit a run is tiled)", async () => {
    const response = await gql(server.url, START_TRANSFER, {
      input: { contentImageId, styles: [{ styleId }], params: { size: 5000 } },
    });
    expect(response.data!.startTransfer).toMatchObject({
      field: 'params.size',
      message: expect.stringContaining('32..4096'),
    });
  });

  it('refuses to delete a style a queued run needs, then allows it once the runs are gone', async () => {
    const { data: created } = await gqlUpload(
      server.url,
      UPLOAD_STYLE,
      { input: { name: 'temporary', image: null } },
      { 'input.image': { bytes: await readShared(styleImage('mosaic.jpg')) } },
    );
    const temporary = created!.uploadStyle.id;
    const blocker = await gql(server.url, START_TRANSFER, {
      input: { contentImageId, styles: [{ styleId }], params: { size: 64, steps: 500, previewEvery: 0 } },
    });
    const waiting = await gql(server.url, START_TRANSFER, {
      input: { contentImageId, styles: [{ styleId: temporary }], params: { size: 40, steps: 2 } },
    });
    const refused = await gql(
      server.url,
      `mutation ($id: ID!) { deleteStyle(id: $id) { __typename ... on Error { code message } } }`,
      { id: temporary },
    );
    expect(refused.data!.deleteStyle).toMatchObject({ __typename: 'ConflictError', code: 'CONFLICT' });
    for (const run of [waiting, blocker]) await gql(server.url, CANCEL_RUN, { id: run.data!.startTransfer.id });
    const deleted = await gql(
      server.url,
      `mutation ($id: ID!) { deleteStyle(id: $id) { __typename ... on Deleted { deletedId } } }`,
      { id: temporary },
    );
    expect(deleted.data!.deleteStyle).toEqual({ __typename: 'Deleted', deletedId: temporary });
    // The cancelled run keeps the deleted style's name and image.
    const history = await gql(
      server.url,
      `query ($id: ID!) { run(id: $id) { styles { name style { id } image { url } } } }`,
      { id: waiting.data!.startTransfer.id },
    );
    expect(history.data!.run.styles[0]).toMatchObject({ name: 'temporary', style: null });
  });

  it('keeps serving after a subscription to a run that does not exist', async () => {
    const client = wsClient(server.url);
    await expect(subscribeAll(client, RUN_EVENTS, { runId: 'UnVuOm5vbmU=' })).rejects.toThrow(/no Run with id/);
    await client.dispose();
    expect((await gql(server.url, `{ engine { backend } }`)).data!.engine.backend).toBeTruthy();
  });
});

describe('thin images', () => {
  it('names what would do when a content image is too thin', async () => {
    const strips = await startUpload(strip, { size: 64, scales: 1 });
    expect(strips.data!.startTransfer.validValues).toBe('size ≥ 78 for this image');
    const scaled = await startUpload(strip, { size: 128, scales: 2 });
    expect(scaled.data!.startTransfer.validValues).toBe('size ≥ 155 for this image, or fewer scales');
    const slivers = await startUpload(sliver, { size: 64 });
    expect(slivers.data!.startTransfer.validValues).toMatch(/^an image closer to square/);
  });

  it('runs a fast transfer of the same thin image: the fast networks take any side of 1 px or more', async () => {
    const listed = await gql(server.url, `{ styleModels { id name } }`);
    const models: { id: string; name: string }[] = listed.data!.styleModels;
    const mosaic = models.find((m) => m.name === 'mosaic')!;
    const input = { content: null, styleModelId: mosaic.id, fastParams: { size: 64 } };
    const started = await gqlUpload(server.url, START_TRANSFER, { input }, { 'input.content': { bytes: sliver } });
    expect(started.data!.startTransfer.__typename).toBe('Run');
    const events = await subscribeAll(wsClient(server.url), RUN_EVENTS, { runId: started.data!.startTransfer.id });
    const ended = { status: 'SUCCEEDED', run: { result: { width: 64, height: 1 } } };
    expect(events.at(-1)!.data!.runEvents).toMatchObject(ended);
  });
});

describe('node and nodes', () => {
  const base64 = (text: string) => Buffer.from(text).toString('base64');
  const NAMES_NOTHING: [string, string][] = [
    ['a run that does not exist', base64('Run:none')],
    ['an image that does not exist', base64(`Image:${'0'.repeat(64)}`)],
    ['a style that does not exist', base64('Style:none')],
    ['an id that is not base64', '%%%'],
    ['garbage', 'garbage'],
    ['an empty id', ''],
    ['a type without an id', base64('Run:')],
    ['a type that does not exist', base64('Nope:1')],
    ['a type that is not a node', base64('InputError:1')],
  ];

  it.each(NAMES_NOTHING)('node(id:) answers null for %s', async (_, id) => {
    const response = await gql(server.url, `query ($id: ID!) { node(id: $id) { __typename id } }`, { id });
    expect(response).toEqual({ status: 200, data: { node: null } });
  });

  it('nodes(ids:) answers null for each id that names nothing, and the nodes the others name', async () => {
    const ids = [...NAMES_NOTHING.map(([, id]) => id), styleId];
    const response = await gql(server.url, `query ($ids: [ID!]!) { nodes(ids: $ids) { __typename id } }`, { ids });
    const nodes = [...NAMES_NOTHING.map(() => null), { __typename: 'Style', id: styleId }];
    expect(response).toEqual({ status: 200, data: { nodes } });
  });
});

describe('requests over the limits', () => {
  /** A POST to /graphql as the fetch API sends it, with the status. */
  async function post(body: BodyInit, headers: Record<string, string> = {}) {
    const response = await fetch(`${server.url}/graphql`, { method: 'POST', body, headers });
    return { status: response.status, ...((await response.json()) as GraphQLResponse) };
  }

  it('refuses a multipart request with more files than allowed with a typed 4xx', async () => {
    const before = await footprint(server);
    const form = new FormData();
    const variables = { input: { name: 'many', image: null } };
    form.set('operations', JSON.stringify({ query: UPLOAD_STYLE, variables }));
    const map = Object.fromEntries(Array.from({ length: 11 }, (_, i) => [String(i), ['variables.input.image']]));
    form.set('map', JSON.stringify(map));
    // Small files: the request stays far below the body limit, only their number is over.
    for (let i = 0; i < 11; i++) form.set(String(i), new Blob([new Uint8Array(sliver)]), `f${i}.png`);
    const response = await post(form, { 'graphql-require-preflight': '1' });
    expect(response.status).toBeGreaterThanOrEqual(400);
    expect(response.status).toBeLessThan(500);
    expect(response.errors?.map((e) => e.extensions?.code)).toEqual(['BAD_REQUEST']);
    expect(response.errors![0]!.message).toMatch(/files/i);
    expect(await footprint(server)).toEqual(before);
  });

  const DEPTH = 10_000;
  const DEEP: [string, string][] = [
    ['selection sets', `{ ${'a { '.repeat(DEPTH)}b${' }'.repeat(DEPTH)} }`],
    ['a real field', `{ ${'engine { '.repeat(DEPTH)}backend${' }'.repeat(DEPTH)} }`],
    ['list values in an argument', `{ run(id: ${'['.repeat(DEPTH)}"x"${']'.repeat(DEPTH)}) { id } }`],
  ];

  it.each(DEEP)('refuses %s nested 10,000 deep as too complex, over HTTP and graphql-ws', async (_, query) => {
    const response = await post(JSON.stringify({ query }), { 'content-type': 'application/json' });
    expect(response.status).toBeGreaterThanOrEqual(400);
    expect(response.status).toBeLessThan(500);
    expect(response.errors?.map((e) => e.extensions?.code)).toEqual(['QUERY_TOO_COMPLEX']);
    const client = wsClient(server.url);
    await expect(subscribeAll(client, query, {})).rejects.toThrow(/QUERY_TOO_COMPLEX/);
    await client.dispose();
    expect((await gql(server.url, `{ engine { backend } }`)).data!.engine.backend).toBeTruthy();
  });

  it('refuses a document as deeply nested as the token limit allows without crashing', async () => {
    // `{ run(id: ` … `) { id } }` is 11 tokens; each level of list adds 2.
    const depth = Math.floor((MAX_QUERY_TOKENS - 11) / 2);
    const query = `{ run(id: ${'['.repeat(depth)}"x"${']'.repeat(depth)}) { id } }`;
    const response = await post(JSON.stringify({ query }), { 'content-type': 'application/json' });
    // Parsed, then refused by validation (Yoga's own code for it), not a stack overflow masked as INTERNAL.
    expect(response.errors?.map((e) => e.extensions?.code)).toEqual(['GRAPHQL_VALIDATION_FAILED']);
    expect(response.errors![0]!.message).toMatch(/^ID cannot represent/);
  });

  it('stops reading a chunked body past the limit, answers 413 and keeps serving', async () => {
    const limit = 2 * MAX_UPLOAD_BYTES + 64 * 1024;
    // Far more than the limit, generated as it is sent: a server that reads it all answers something else.
    const offered = 64 * 1024 * 1024;
    const head = '{"query":"{ engine { backend } }","variables":{"pad":"';
    const answer = await postChunked(`${server.url}/graphql`, head, offered, '"}}');
    expect(answer.status).toBe(413);
    expect(answer.headers.connection).toBe('close');
    const { errors } = JSON.parse(answer.body) as GraphQLResponse;
    expect(errors?.map((e) => e.extensions?.code)).toEqual(['IMAGE_TOO_LARGE']);
    // What the sockets buffer on the way is bounded; the rest was never read.
    expect(answer.sent).toBeGreaterThan(limit);
    expect(answer.sent).toBeLessThan(offered / 2);
    expect((await gql(server.url, `{ engine { backend } }`)).data!.engine.backend).toBeTruthy();
  });
});

interface ChunkedAnswer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
  /** Bytes written before the answer came. */
  sent: number;
}

/**
 * POSTs head, `padding` bytes of "x" and tail with no Content-Length (chunked), writing only as fast as the server
 * reads and stopping once it answers. Resolves with the answer and how many bytes went out.
 */
function postChunked(url: string, head: string, padding: number, tail: string): Promise<ChunkedAnswer> {
  return new Promise((resolve, reject) => {
    let answered = false;
    let sent = 0;
    const options = { method: 'POST', headers: { 'content-type': 'application/json' } };
    const request = http.request(url, options, (response) => {
      answered = true;
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (text: string) => (body += text));
      response.on('end', () => resolve({ status: response.statusCode!, headers: response.headers, body, sent }));
      response.on('error', reject);
    });
    // Once the server has answered and closed, a write may fail: that is the point, not an error of the test.
    request.on('error', (error) => {
      if (!answered) reject(error);
    });
    const chunk = 'x'.repeat(64 * 1024);
    const write = (text: string) => {
      sent += Buffer.byteLength(text);
      return request.write(text);
    };
    write(head);
    let left = padding;
    const pump = () => {
      while (!answered && !request.destroyed && left > 0) {
        left -= chunk.length;
        if (!write(chunk)) return void request.once('drain', pump);
      }
      if (!answered && !request.destroyed) request.end(tail);
    };
    pump();
  });
}

async function postImage(file: string): Promise<Response> {
  const body = new Blob([new Uint8Array(await readShared(file))]);
  return fetch(`${server.url}/images`, { method: 'POST', body, headers: { 'graphql-require-preflight': '1' } });
}

describe('image ids', () => {
  it("accepts an image's sha256 (as POST /images answers it) as well as its global id", async () => {
    const posted = (await (await postImage(styleImage('mosaic.jpg'))).json()) as { id: string; sha256: string };
    expect(posted.sha256).toMatch(/^[0-9a-f]{64}$/);
    for (const [form, imageId] of [
      ['sha256', posted.sha256],
      ['global id', posted.id],
    ]) {
      const style = await gql(server.url, UPLOAD_STYLE, { input: { name: `by ${form}`, imageId } });
      const url = `/images/${posted.sha256}`;
      expect(style.data!.uploadStyle).toMatchObject({ __typename: 'Style', image: { url } });
      const input = { contentImageId: imageId, styles: [{ styleId }], params: { size: 40, steps: 1 } };
      const run = await gql(server.url, START_TRANSFER, { input });
      expect(run.data!.startTransfer).toMatchObject({ __typename: 'Run', content: { url } });
      await subscribeAll(wsClient(server.url), RUN_EVENTS, { runId: run.data!.startTransfer.id });
    }
    const nowhere = { contentImageId: 'f'.repeat(64), styles: [{ styleId }] };
    const unknown = await gql(server.url, START_TRANSFER, { input: nowhere });
    expect(unknown.data!.startTransfer).toMatchObject({ __typename: 'NotFoundError', code: 'NOT_FOUND' });
  });
});

describe('answers', () => {
  it('say nosniff: images (stored, revalidated, missing), what POST /images answers, the web page', async () => {
    const posted = await postImage(styleImage('udnie.jpg'));
    const { url } = (await posted.json()) as { url: string };
    const stored = await fetch(`${server.url}${url}`);
    const etag = stored.headers.get('etag')!;
    const revalidated = await fetch(`${server.url}${url}`, { headers: { 'if-none-match': etag } });
    const missing = await fetch(`${server.url}/images/${'0'.repeat(64)}`);
    const refused = await fetch(`${server.url}/images`, {
      method: 'POST',
      body: 'not an image',
      headers: { 'graphql-require-preflight': '1' },
    });
    const page = await fetch(`${server.url}/`);
    const answers = { posted, stored, revalidated, missing, refused, page };
    const statuses = Object.fromEntries(Object.entries(answers).map(([name, response]) => [name, response.status]));
    expect(statuses).toEqual({ posted: 201, stored: 200, revalidated: 304, missing: 404, refused: 400, page: 200 });
    for (const [name, response] of Object.entries(answers)) {
      expect([name, response.headers.get('x-content-type-options')]).toEqual([name, 'nosniff']);
    }
  });
});

describe('configuration', () => {
  it('reports every problem at once, naming the variable', () => {
    let error: unknown;
    try {
      loadConfig({ PORT: 'eighty', DATABASE_URL: 'mysql://x', GRAMIAN_BACKEND: 'metal', MAX_UPLOAD_BYTES: '-1' });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).problems).toHaveLength(4);
    for (const name of ['PORT=eighty', 'DATABASE_URL=mysql://x', 'GRAMIAN_BACKEND=metal', 'MAX_UPLOAD_BYTES=-1'])
      expect((error as Error).message).toContain(name);
  });
});
