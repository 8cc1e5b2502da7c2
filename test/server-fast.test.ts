// FAST runs over GraphQL: the catalogue of pretrained models, importing one from files, running through the same
// queue, persistence and runEvents as Gatys runs, and the errors of a fast request.
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  RUN_EVENTS,
  START_TRANSFER,
  footprint,
  gql,
  startTestServer,
  subscribeAll,
  wsClient,
  type TestServer,
} from './helpers/server.js';
import { SHARED_MODELS, contentImage, readShared } from './helpers/shared.js';

let server: TestServer;
let amberId: string;
const models = new Map<string, string>();

const MODELS = `{ styleModels { id name title architecture format source available preview { url } } }`;

beforeAll(async () => {
  // Imports read from the shared models folder, by paths relative to it.
  server = await startTestServer({ GRAMIAN_IMPORT_DIR: SHARED_MODELS });
  const upload = await fetch(`${server.url}/images`, {
    method: 'POST',
    headers: { 'graphql-require-preflight': '1' },
    body: new Blob([new Uint8Array(await readShared(contentImage('amber.jpg')))]),
  });
  amberId = ((await upload.json()) as { id: string }).id;
  for (const m of (await gql(server.url, MODELS)).data!.styleModels) models.set(m.name, m.id);
});

afterAll(async () => {
  await server.stop();
});

async function runToEnd(input: Record<string, unknown>) {
  const started = await gql(server.url, START_TRANSFER, { input: { contentImageId: amberId, ...input } });
  expect(started.data?.startTransfer.__typename).toBe('Run');
  const events = await subscribeAll(wsClient(server.url), RUN_EVENTS, { runId: started.data!.startTransfer.id });
  return { id: started.data!.startTransfer.id as string, events: events.map((e) => e.data!.runEvents) };
}

describe('style models', () => {
  it('lists the 14 pretrained models, found on disk', async () => {
    const list = (await gql(server.url, MODELS)).data!.styleModels;
    expect(list).toHaveLength(14);
    expect(list.every((m: { source: string; available: boolean }) => m.source === 'CATALOGUE' && m.available)).toBe(
      true,
    );
    expect(list.find((m: { name: string }) => m.name === 'mosaic')).toMatchObject({
      architecture: 'PYTORCH',
      format: 'NCNN',
      title: 'Mosaic',
    });
    expect(list.find((m: { name: string }) => m.name === 'scream')).toMatchObject({
      architecture: 'ENGSTROM',
      format: 'ML5_CHECKPOINT',
    });
  });

  it('runs a fast transfer through the queue: started, one step, the result, kept in history', async () => {
    const { id, events } = await runToEnd({ styleModelId: models.get('mosaic'), fastParams: { size: 128 } });
    expect(events[0].__typename).toBe('RunSnapshot');
    expect(events.filter((e) => e.__typename === 'RunStepAdded').map((e) => e.step.step)).toEqual([1]);
    expect(events.at(-1)).toMatchObject({
      __typename: 'RunEnded',
      status: 'SUCCEEDED',
      run: { result: { mime: 'image/png', width: 128, height: 128 } },
    });
    const { data } = await gql(
      server.url,
      `query ($id: ID!) {
        run(id: $id) {
          engine totalSteps params { size } fastParams { styleModel size strength preserveColors }
          styleModel { name } steps { step }
        }
      }`,
      { id },
    );
    expect(data!.run).toEqual({
      engine: 'FAST',
      totalSteps: 1,
      params: null,
      fastParams: { styleModel: 'mosaic', size: 128, strength: 1, preserveColors: false },
      styleModel: { name: 'mosaic' },
      steps: [{ step: 1 }],
    });
    const png = new Uint8Array(await (await fetch(`${server.url}${events.at(-1).run.result.url}`)).arrayBuffer());
    const stats = await sharp(png).stats();
    expect(stats.channels.every((c) => c.stdev > 15)).toBe(true);
  });

  it('runs the built-in FAST preset, which names its model', async () => {
    const presets = (await gql(server.url, `{ presets { id name engine fastParams { styleModel size } } }`)).data!
      .presets;
    const fast = presets.find((p: { engine: string }) => p.engine === 'FAST');
    expect(fast).toMatchObject({ name: 'Fast mosaic', fastParams: { styleModel: 'mosaic' } });
    const { events } = await runToEnd({
      presetId: fast.id,
      fastParams: { size: 96, strength: 0.5, preserveColors: true },
    });
    expect(events.at(-1)).toMatchObject({ status: 'SUCCEEDED', run: { result: { width: 96 } } });
  });

  it("tells what a preset's run would use, for a FAST preset as for a GATYS one", async () => {
    const query = `{
      presets { name effectiveParams { size steps } effectiveFastParams { styleModel size strength preserveColors } }
    }`;
    const presets = (await gql(server.url, query)).data!.presets as { name: string }[];
    expect(presets.find((p) => p.name === 'Fast mosaic')).toEqual({
      name: 'Fast mosaic',
      effectiveParams: null,
      effectiveFastParams: { styleModel: 'mosaic', size: 768, strength: 1, preserveColors: false },
    });
    expect(presets.find((p) => p.name === 'Quick preview')).toEqual({
      name: 'Quick preview',
      effectiveParams: { size: 256, steps: 100 },
      effectiveFastParams: null,
    });
  });

  it('imports a model from files with a preview, runs it, and deletes it; catalogue models stay', async () => {
    const imported = await gql(
      server.url,
      `mutation ($input: ImportStyleModelInput!) {
        importStyleModel(input: $input) {
          __typename
          ... on StyleModel { id name source architecture available preview { width height } }
          ... on Error { code message }
        }
      }`,
      {
        input: { name: 'my candy', path: 'pytorch-fns-ncnn-fp16/candy9.param' },
      },
    );
    expect(imported.data!.importStyleModel).toMatchObject({
      __typename: 'StyleModel',
      name: 'my candy',
      source: 'IMPORT',
      architecture: 'PYTORCH',
      available: true,
      preview: { width: 192, height: 144 },
    });
    const id = imported.data!.importStyleModel.id;
    const { events } = await runToEnd({ styleModelId: id, fastParams: { size: 64 } });
    expect(events.at(-1).status).toBe('SUCCEEDED');
    const deleted = await gql(
      server.url,
      `mutation ($id: ID!) { deleteStyleModel(id: $id) { __typename ... on Deleted { deletedId } } }`,
      { id },
    );
    expect(deleted.data!.deleteStyleModel).toEqual({ __typename: 'Deleted', deletedId: id });
    const catalogue = await gql(
      server.url,
      `mutation ($id: ID!) { deleteStyleModel(id: $id) { __typename ... on Error { code } } }`,
      { id: models.get('candy') },
    );
    expect(catalogue.data!.deleteStyleModel).toMatchObject({ __typename: 'ConflictError', code: 'CONFLICT' });
  });

  it("makes a catalogue model's preview on request", async () => {
    const prepared = await gql(
      server.url,
      `mutation ($id: ID!) { prepareStyleModel(id: $id) { __typename ... on StyleModel { preview { mime width } } } }`,
      { id: models.get('wave') },
    );
    expect(prepared.data!.prepareStyleModel).toMatchObject({
      __typename: 'StyleModel',
      preview: { mime: 'image/png', width: 192 },
    });
  });

  it.each([
    [
      'style images with a model',
      () => ({ styleModelId: models.get('mosaic'), styles: [{ styleId: 'U3R5bGU6eA==' }] }),
      'InputError',
      'styles',
    ],
    ['an unknown model', () => ({ styleModelId: 'U3R5bGVNb2RlbDpub25l' }), 'NotFoundError', undefined],
    [
      'strength out of range',
      () => ({ styleModelId: models.get('mosaic'), fastParams: { strength: 2 } }),
      'InputError',
      'fastParams.strength',
    ],
    [
      // Past one pass of the backend a fast run goes in tiles; past MAX_OUTPUT_SIDE it is refused.
      'a size past the largest output side',
      () => ({ styleModelId: models.get('mosaic'), fastParams: { size: 5000 } }),
      'InputError',
      'fastParams.size',
    ],
    ['a fast request without a model', () => ({ fastParams: { size: 64 } }), 'InputError', 'styleModelId'],
  ])('refuses %s, writing nothing', async (_, input, typename, field) => {
    const before = await footprint(server);
    const response = await gql(server.url, START_TRANSFER, { input: { contentImageId: amberId, ...input() } });
    expect(response.data!.startTransfer.__typename).toBe(typename);
    if (field) expect(response.data!.startTransfer.field).toBe(field);
    expect(await footprint(server)).toEqual(before);
  });

  it('refuses to import what is not a model, leaving nothing behind', async () => {
    const before = await footprint(server);
    const response = await gql(
      server.url,
      `mutation {
        importStyleModel(input: { name: "nope", path: "vgg19-uint8-neuralpixels" }) {
          __typename ... on InputError { field code }
        }
      }`,
    );
    expect(response.data!.importStyleModel).toMatchObject({
      __typename: 'InputError',
      field: 'path',
      code: 'INVALID_INPUT',
    });
    expect(await footprint(server)).toEqual(before);
    expect((await gql(server.url, MODELS)).data!.styleModels).toHaveLength(14);
  });
});

describe('a style model that is not on disk', () => {
  it('answers UnavailableError when it cannot be fetched (downloads off), writing nothing', async () => {
    const empty = await mkdtemp(path.join(os.tmpdir(), 'gramian-nomodels-'));
    // Neither the models folder nor the cache holds it, and downloads are off.
    vi.stubEnv('GRAMIAN_CACHE', empty);
    const offline = await startTestServer({ GRAMIAN_MODELS: empty });
    try {
      const id = (await gql(offline.url, MODELS)).data!.styleModels.find(
        (m: { name: string }) => m.name === 'mosaic',
      ).id;
      const before = await footprint(offline);
      const prepared = await gql(
        offline.url,
        `mutation ($id: ID!) { prepareStyleModel(id: $id) { __typename ... on Error { code message } } }`,
        { id },
      );
      expect(prepared.data!.prepareStyleModel).toMatchObject({ __typename: 'UnavailableError', code: 'UNAVAILABLE' });
      expect(prepared.data!.prepareStyleModel.message).toContain('downloads are off');
      expect(await footprint(offline)).toEqual(before);
    } finally {
      await offline.stop();
      vi.unstubAllEnvs();
      await rm(empty, { recursive: true, force: true });
    }
  });
});
