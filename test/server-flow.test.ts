// The whole flow a frontend follows, over real HTTP and WebSocket: upload a style, create a preset, start a
// transfer, follow it live (graphql-ws, then SSE), fetch the result, and find the run in the history.
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CANCEL_RUN,
  RUN_EVENTS,
  START_TRANSFER,
  UPLOAD_STYLE,
  gql,
  gqlUpload,
  startTestServer,
  subscribeAll,
  subscribeSse,
  until,
  wsClient,
  type TestServer,
} from './helpers/server.js';
import { contentImage, readShared, styleImage } from './helpers/shared.js';

let server: TestServer;
let styleId: string;
let presetId: string;

beforeAll(async () => {
  server = await startTestServer();
  const upload = await gqlUpload(
    server.url,
    UPLOAD_STYLE,
    { input: { name: 'The Scream', tags: ['munch', 'expressionism'], image: null } },
    {
      'input.image': {
        bytes: await readShared(styleImage('the_scream.jpg')),
        name: 'the_scream.jpg',
        type: 'image/jpeg',
      },
    },
  );
  expect(upload.data?.uploadStyle).toMatchObject({
    __typename: 'Style',
    name: 'The Scream',
    tags: ['munch', 'expressionism'],
  });
  styleId = upload.data!.uploadStyle.id;
  const preset = await gql(
    server.url,
    `mutation ($input: CreatePresetInput!) {
      createPreset(input: $input) {
        __typename ... on Preset { id name params { size steps } effectiveParams { size steps optimizer tvWeight } }
      }
    }`,
    {
      input: { name: 'tiny', params: { size: 48, steps: 6, previewEvery: 2 } },
    },
  );
  expect(preset.data?.createPreset).toMatchObject({
    name: 'tiny',
    params: { size: 48, steps: 6 },
    effectiveParams: { size: 48, steps: 6, optimizer: 'LBFGS' },
  });
  presetId = preset.data!.createPreset.id;
});

afterAll(async () => {
  await server.stop();
});

async function startRun(params: Record<string, unknown> = {}): Promise<{ id: string; totalSteps: number }> {
  const started = await gqlUpload(
    server.url,
    START_TRANSFER,
    { input: { content: null, styles: [{ styleId, weight: 1 }], presetId, params } },
    {
      'input.content': {
        bytes: await readShared(contentImage('golden_gate.jpg')),
        name: 'golden_gate.jpg',
        type: 'image/jpeg',
      },
    },
  );
  expect(started.data?.startTransfer).toMatchObject({ __typename: 'Run', params: { size: 48 } });
  return started.data!.startTransfer;
}

describe('a transfer followed over graphql-ws', () => {
  it('streams a snapshot, ordered steps, previews and the end, then serves the result and keeps history', async () => {
    const run = await startRun();
    const client = wsClient(server.url);
    const results = await subscribeAll(client, RUN_EVENTS, { runId: run.id });
    await client.dispose();
    expect(results.every((r) => !r.errors)).toBe(true);
    const events = results.map((r) => r.data!.runEvents);
    expect(events[0].__typename).toBe('RunSnapshot');
    expect(events.at(-1)).toMatchObject({
      __typename: 'RunEnded',
      status: 'SUCCEEDED',
      run: { status: 'SUCCEEDED', lastStep: 6 },
    });
    // Steps arrive once each and in order, after whatever the snapshot already covered.
    const fromSnapshot = events[0].lastStep?.step ?? 0;
    const steps = events.filter((e) => e.__typename === 'RunStepAdded').map((e) => e.step.step);
    expect(steps).toEqual(Array.from({ length: 6 - fromSnapshot }, (_, i) => fromSnapshot + i + 1));
    const previews = events.filter((e) => e.__typename === 'RunPreviewAdded');
    expect(previews.length).toBeGreaterThanOrEqual(1);
    expect(previews[0].dataUrl).toMatch(/^data:image\/jpeg;base64,/);
    expect(previews[0].preview.image.mime).toBe('image/jpeg');
    const statuses = events.filter((e) => e.__typename === 'RunStatusChanged').map((e) => e.status);
    expect(statuses.at(-1)).toBe('SUCCEEDED');

    const result = events.at(-1).run.result;
    expect(result).toMatchObject({ mime: 'image/png', width: 48, height: 36 });
    const response = await fetch(`${server.url}${result.url}`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('image/png');
    expect(response.headers.get('cache-control')).toContain('immutable');
    const etag = response.headers.get('etag')!;
    const bytes = new Uint8Array(await response.arrayBuffer());
    expect((await sharp(bytes).metadata()).width).toBe(48);
    expect((await fetch(`${server.url}${result.url}`, { headers: { 'if-none-match': etag } })).status).toBe(304);
    expect((await fetch(`${server.url}/images/${'0'.repeat(64)}`)).status).toBe(404);

    const history = await gql(
      server.url,
      `{
        runs(first: 10, status: [SUCCEEDED]) {
          totalCount
          edges {
            node {
              id status preset { name } styles { name weight style { name } } steps { step totalLoss }
              previews { step } losses { total }
            }
          }
        }
      }`,
    );
    const found = history.data!.runs.edges.map((e: any) => e.node).find((n: any) => n.id === run.id);
    expect(found).toMatchObject({
      status: 'SUCCEEDED',
      preset: { name: 'tiny' },
      styles: [{ name: 'The Scream', weight: 1, style: { name: 'The Scream' } }],
    });
    expect(found.steps.map((s: any) => s.step)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(found.previews.map((p: any) => p.step)).toEqual([2, 4]);
    expect(found.losses.total).toBe(found.steps.at(-1).totalLoss);
    // The loss curve falls.
    expect(found.steps.at(-1).totalLoss).toBeLessThan(found.steps[0].totalLoss);
  });

  it('gives a finished run its snapshot and completes at once', async () => {
    const history = await gql(server.url, `{ runs(first: 1, status: [SUCCEEDED]) { edges { node { id } } } }`);
    const client = wsClient(server.url);
    const results = await subscribeAll(client, RUN_EVENTS, { runId: history.data!.runs.edges[0].node.id });
    await client.dispose();
    expect(results.map((r) => r.data!.runEvents.__typename)).toEqual(['RunSnapshot']);
    expect(results[0]!.data!.runEvents).toMatchObject({
      status: 'SUCCEEDED',
      lastStep: { step: 6 },
      queuePosition: null,
    });
  });

  it('answers node(id) for every node type it hands out', async () => {
    const history = await gql(server.url, `{ runs(first: 1) { edges { node { id content { id } } } } }`);
    const { id, content } = history.data!.runs.edges[0].node;
    const nodes = await gql(server.url, `query ($ids: [ID!]!) { nodes(ids: $ids) { __typename id } }`, {
      ids: [id, content.id, styleId, presetId],
    });
    expect(nodes.data!.nodes.map((n: any) => n.__typename)).toEqual(['Run', 'Image', 'Style', 'Preset']);
  });
});

describe('many subscribers', () => {
  it('gives 520 subscriptions to one run every step and preview without an error', async () => {
    // A queued run first, so that every subscription starts before the run does.
    const blocker = await startRun({ steps: 1000, previewEvery: 0 });
    const run = await startRun({ steps: 4, previewEvery: 2 });
    const client = wsClient(server.url);
    let snapshots = 0;
    const all = Array.from({ length: 520 }, () =>
      subscribeAll(client, RUN_EVENTS, { runId: run.id }, (r) => {
        if (r.data?.runEvents.__typename === 'RunSnapshot') snapshots += 1;
      }),
    );
    await until(
      () => snapshots,
      (n) => n >= all.length,
      'every snapshot',
    );
    await gql(server.url, CANCEL_RUN, { id: blocker.id });
    const results = await Promise.all(all);
    await client.dispose();
    for (const events of results) {
      expect(events.every((r) => !r.errors)).toBe(true);
      const kinds = events.map((r) => r.data!.runEvents.__typename);
      expect(kinds.filter((k) => k === 'RunStepAdded')).toHaveLength(4);
      expect(kinds.filter((k) => k === 'RunPreviewAdded')).toHaveLength(1);
      expect(kinds.at(-1)).toBe('RunEnded');
    }
  });
});

describe('a transfer followed over server-sent events', () => {
  it('delivers the same sequence and completes', async () => {
    const run = await startRun({ steps: 4, previewEvery: 0 });
    const results = await subscribeSse(server.url, RUN_EVENTS, { runId: run.id });
    const events = results.map((r) => r.data!.runEvents);
    expect(events[0].__typename).toBe('RunSnapshot');
    expect(events.at(-1)).toMatchObject({ __typename: 'RunEnded', status: 'SUCCEEDED' });
    const fromSnapshot = events[0].lastStep?.step ?? 0;
    expect(events.filter((e) => e.__typename === 'RunStepAdded').map((e) => e.step.step)).toEqual(
      Array.from({ length: 4 - fromSnapshot }, (_, i) => fromSnapshot + i + 1),
    );
  });
});

describe('raw image uploads (POST /images), for clients without multipart', () => {
  it('stores an image once and lets a style and a run use it by id', async () => {
    const bytes = await readShared(styleImage('candy.jpg'));
    const post = () =>
      fetch(`${server.url}/images`, {
        method: 'POST',
        headers: { 'content-type': 'image/jpeg' },
        body: new Blob([new Uint8Array(bytes)]),
      });
    const first = await post();
    expect(first.status).toBe(201);
    const image = (await first.json()) as { id: string; sha256: string; url: string; mime: string };
    expect(image).toMatchObject({ mime: 'image/jpeg', url: `/images/${image.sha256}` });
    expect(((await (await post()).json()) as { id: string }).id).toBe(image.id);
    const style = await gql(server.url, UPLOAD_STYLE, { input: { name: 'Candy', imageId: image.id } });
    expect(style.data!.uploadStyle).toMatchObject({ __typename: 'Style', name: 'Candy', image: { url: image.url } });
    const both = await gqlUpload(
      server.url,
      UPLOAD_STYLE,
      { input: { name: 'Both', imageId: image.id, image: null } },
      { 'input.image': { bytes } },
    );
    expect(both.data!.uploadStyle).toMatchObject({ __typename: 'InputError', field: 'image' });
  });

  it('refuses what is not an image, with a code', async () => {
    const headers = { 'graphql-require-preflight': '1' };
    const response = await fetch(`${server.url}/images`, { method: 'POST', body: 'hello', headers });
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ error: { code: 'NOT_AN_IMAGE' } });
  });
});
