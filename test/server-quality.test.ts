// The quality score over GraphQL: every successful Gatys and FAST run ends with run.quality (style and content,
// lower is better), stored with the result, kept across a restart, in the history and its ranking; a FAST run is
// scored against its model's reference painting when one is attached (style null otherwise); a canceled run, or one
// whose score cannot be measured, has none. MAX_OUTPUT_SIDE bounds every transfer. The same on PostgreSQL.
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/config.js';
import { createTestDatabase, RUN_POSTGRES, type TestDatabase } from './helpers/postgres.js';
import {
  CANCEL_RUN,
  RUN_EVENTS,
  START_TRANSFER,
  UPLOAD_STYLE,
  gql,
  gqlUpload,
  startTestServer,
  subscribeAll,
  testEnv,
  until,
  wsClient,
  type TestServer,
} from './helpers/server.js';
import { contentImage, readShared, styleImage } from './helpers/shared.js';

interface Quality {
  style: number | null;
  content: number;
}

const RUN = /* GraphQL */ `
  query ($id: ID!) {
    run(id: $id) {
      id
      status
      quality {
        style
        content
      }
      steps {
        step
        tile
        tiles
      }
    }
  }
`;

const UPDATE_MODEL = /* GraphQL */ `
  mutation ($id: ID!, $input: UpdateStyleModelInput!) {
    updateStyleModel(id: $id, input: $input) {
      __typename
      ... on StyleModel {
        id
        name
        styleImage {
          id
          width
          height
        }
      }
      ... on Error {
        code
        message
      }
    }
  }
`;

/** Stores an image with POST /images; its (global) id. */
async function postImage(url: string, bytes: Uint8Array): Promise<string> {
  const response = await fetch(`${url}/images`, {
    method: 'POST',
    headers: { 'graphql-require-preflight': '1' },
    body: new Blob([new Uint8Array(bytes)]),
  });
  expect(response.ok).toBe(true);
  return ((await response.json()) as { id: string }).id;
}

/** Starts a transfer and follows it to its end; the run as the API then has it. */
async function runToEnd(url: string, input: Record<string, unknown>) {
  const started = await gql(url, START_TRANSFER, { input });
  expect(started.data?.startTransfer).toMatchObject({ __typename: 'Run' });
  const id = started.data!.startTransfer.id as string;
  const events = await subscribeAll(wsClient(url), RUN_EVENTS, { runId: id });
  expect(events.at(-1)?.data?.runEvents).toMatchObject({ __typename: 'RunEnded' });
  return (await gql(url, RUN, { id })).data!.run as {
    id: string;
    status: string;
    quality: Quality | null;
    steps: { step: number; tile: number | null; tiles: number | null }[];
  };
}

function expectSane(quality: Quality | null, withStyle: boolean): void {
  expect(quality).not.toBeNull();
  const { style, content } = quality!;
  expect(Number.isFinite(content)).toBe(true);
  // The result moved away from the photo, but kept its layout: relu4_2 distance well below its own magnitude.
  expect(content).toBeGreaterThan(0);
  expect(content).toBeLessThan(2);
  if (!withStyle) {
    expect(style).toBeNull();
    return;
  }
  expect(Number.isFinite(style)).toBe(true);
  // Closer to the style than the photo was (1 = no more stylised than the photo), not at it.
  expect(style).toBeGreaterThan(0);
  expect(style).toBeLessThan(1);
}

describe('quality score on SQLite', () => {
  let server: TestServer;
  let dataDir: string;
  let contentImageId: string;
  let styleId: string;
  let mosaicImageId: string;
  const models = new Map<string, string>();
  let gatysRun: { id: string; quality: Quality | null };

  beforeAll(async () => {
    dataDir = await mkdtemp(path.join(os.tmpdir(), 'gramian-quality-'));
    server = await startTestServer({}, dataDir);
    contentImageId = await postImage(server.url, await readShared(contentImage('amber.jpg')));
    mosaicImageId = await postImage(server.url, await readShared(styleImage('mosaic.jpg')));
    const style = await gqlUpload(
      server.url,
      UPLOAD_STYLE,
      { input: { name: 'Udnie', image: null } },
      { 'input.image': { bytes: await readShared(styleImage('udnie.jpg')) } },
    );
    styleId = style.data!.uploadStyle.id;
    const list = await gql(server.url, '{ styleModels { id name styleImage { id } } }');
    for (const m of list.data!.styleModels as { id: string; name: string; styleImage: unknown }[]) {
      expect(m.styleImage).toBeNull();
      models.set(m.name, m.id);
    }
  });

  afterAll(async () => {
    await server?.stop();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('scores a Gatys run: both numbers, finite and sane, stored with the result', async () => {
    const run = await runToEnd(server.url, {
      contentImageId,
      styles: [{ styleId }],
      params: { size: 64, steps: 8, previewEvery: 0 },
    });
    expect(run.status).toBe('SUCCEEDED');
    expectSane(run.quality, true);
    // A whole-image run: no step belongs to a tile.
    expect(run.steps).toHaveLength(8);
    expect(run.steps.every((s) => s.tile === null && s.tiles === null)).toBe(true);
    gatysRun = run;
    // The row has it: stored, not computed on read.
    const stored = await server.services.db.run.findFirstOrThrow({ where: { status: 'SUCCEEDED' } });
    expect({ style: stored.qualityStyle, content: stored.qualityContent }).toEqual(run.quality);
  });

  it('a tiled run (tileSize): each step names its tile, stored with the steps; the result is scored', async () => {
    const run = await runToEnd(server.url, {
      contentImageId,
      styles: [{ styleId }],
      params: { size: 96, steps: 2, tileSize: 64, previewEvery: 0 },
    });
    expect(run.status).toBe('SUCCEEDED');
    expectSane(run.quality, true);
    const tiles = run.steps[0]!.tiles!;
    expect(tiles).toBeGreaterThan(1);
    expect(run.steps).toEqual(
      Array.from({ length: 2 * tiles }, (_, i) => ({ step: i + 1, tile: Math.floor(i / 2) + 1, tiles })),
    );
  });

  it('scores a FAST run without a reference painting on content only (style null)', async () => {
    const run = await runToEnd(server.url, {
      contentImageId,
      styleModelId: models.get('mosaic'),
      fastParams: { size: 96 },
    });
    expect(run.status).toBe('SUCCEEDED');
    expectSane(run.quality, false);
  });

  it('scores a FAST run against the reference painting attached to its model', async () => {
    const attached = await gql(server.url, UPDATE_MODEL, {
      id: models.get('mosaic'),
      input: { styleImageId: mosaicImageId },
    });
    expect(attached.data!.updateStyleModel).toMatchObject({
      __typename: 'StyleModel',
      name: 'mosaic',
      styleImage: { id: mosaicImageId, width: 470, height: 391 },
    });
    // (At 192 px the network's strokes are at the painting's scale; at 96 px they are too coarse to score well.)
    const run = await runToEnd(server.url, {
      contentImageId,
      styleModelId: models.get('mosaic'),
      fastParams: { size: 192 },
    });
    expect(run.status).toBe('SUCCEEDED');
    expectSane(run.quality, true);

    // An image that names nothing is refused; omitting styleImageId keeps the reference.
    const missing = await gql(server.url, UPDATE_MODEL, {
      id: models.get('mosaic'),
      input: { styleImageId: 'f'.repeat(64) },
    });
    expect(missing.data!.updateStyleModel).toMatchObject({ __typename: 'NotFoundError', code: 'NOT_FOUND' });
    const kept = await gql(server.url, UPDATE_MODEL, { id: models.get('mosaic'), input: {} });
    expect(kept.data!.updateStyleModel.styleImage).toMatchObject({ id: mosaicImageId });
  });

  it('a run whose score cannot be measured still succeeds, without a quality', async () => {
    // A reference painting too thin for the network at the result's size: the score is refused, the run is not.
    const thin = await sharp({ create: { width: 12, height: 400, channels: 3, background: '#a04020' } })
      .png()
      .toBuffer();
    const thinId = await postImage(server.url, thin);
    const udnie = models.get('udnie')!;
    const attached = await gql(server.url, UPDATE_MODEL, { id: udnie, input: { styleImageId: thinId } });
    expect(attached.data!.updateStyleModel.__typename).toBe('StyleModel');
    const run = await runToEnd(server.url, { contentImageId, styleModelId: udnie, fastParams: { size: 64 } });
    expect(run.status).toBe('SUCCEEDED');
    expect(run.quality).toBeNull();
    // Detached: the next run is scored on content again.
    const detached = await gql(server.url, UPDATE_MODEL, { id: udnie, input: { styleImageId: null } });
    expect(detached.data!.updateStyleModel.styleImage).toBeNull();
    const next = await runToEnd(server.url, { contentImageId, styleModelId: udnie, fastParams: { size: 64 } });
    expectSane(next.quality, false);
  });

  it('a canceled run has no quality', async () => {
    const started = await gql(server.url, START_TRANSFER, {
      input: { contentImageId, styles: [{ styleId }], params: { size: 64, steps: 500, previewEvery: 0 } },
    });
    const id = started.data!.startTransfer.id as string;
    await until(
      async () => (await gql(server.url, RUN, { id })).data!.run.steps.length,
      (steps) => steps > 0,
      'a first step',
    );
    expect((await gql(server.url, CANCEL_RUN, { id })).data!.cancelRun.__typename).toBe('Run');
    const run = await until(
      async () => (await gql(server.url, RUN, { id })).data!.run,
      (r) => r.status === 'CANCELED',
      'the run to be canceled',
    );
    expect(run.quality).toBeNull();
  });

  it('ranks the history by quality: scored runs only, best first, page by page', async () => {
    const HISTORY = /* GraphQL */ `
      query ($orderBy: RunOrder, $after: String) {
        runs(first: 1, after: $after, orderBy: $orderBy) {
          totalCount
          pageInfo {
            hasNextPage
            endCursor
          }
          edges {
            node {
              id
              status
              quality {
                style
                content
              }
            }
          }
        }
      }
    `;
    const all = async (orderBy: string) => {
      const nodes: { id: string; quality: Quality | null }[] = [];
      let after: string | null = null;
      for (;;) {
        const page = (await gql(server.url, HISTORY, { orderBy, after })).data!.runs as {
          totalCount: number;
          pageInfo: { hasNextPage: boolean; endCursor: string | null };
          edges: { node: { id: string; quality: Quality | null } }[];
        };
        nodes.push(...page.edges.map((e) => e.node));
        if (!page.pageInfo.hasNextPage) {
          // Every run the count says, each once.
          expect(nodes).toHaveLength(page.totalCount);
          expect(new Set(nodes.map((n) => n.id)).size).toBe(nodes.length);
          break;
        }
        after = page.pageInfo.endCursor;
      }
      return nodes;
    };
    const newest = await all('NEWEST');
    // Gatys, Gatys in tiles, FAST ×2, FAST unscored, FAST, canceled.
    expect(newest).toHaveLength(7);
    expect(newest.find((n) => n.id === gatysRun.id)?.quality).toEqual(gatysRun.quality);

    const byStyle = await all('STYLE_SCORE');
    expect(byStyle).toHaveLength(3);
    const styles = byStyle.map((n) => n.quality!.style!);
    expect(styles).toEqual([...styles].sort((a, b) => a - b));

    const byContent = await all('CONTENT_SCORE');
    expect(byContent).toHaveLength(5);
    const contents = byContent.map((n) => n.quality!.content);
    expect(contents).toEqual([...contents].sort((a, b) => a - b));
  });

  it('keeps the scores across a restart', async () => {
    await server.stop();
    server = await startTestServer({}, dataDir);
    const run = (await gql(server.url, RUN, { id: gatysRun.id })).data!.run;
    expect(run.quality).toEqual(gatysRun.quality);
  });
});

describe('MAX_OUTPUT_SIDE', () => {
  let server: TestServer;
  let contentImageId: string;

  beforeAll(async () => {
    server = await startTestServer({ MAX_OUTPUT_SIDE: '100' });
    contentImageId = await postImage(server.url, await readShared(contentImage('amber.jpg')));
  });

  afterAll(async () => {
    await server?.stop();
  });

  it('is at most the engine’s, and reported by the engine query', async () => {
    expect(loadConfig(testEnv('/tmp/x')).maxOutputSide).toBe(4096);
    expect(() => loadConfig(testEnv('/tmp/x', { MAX_OUTPUT_SIDE: '5000' }))).toThrow(ConfigError);
    expect((await gql(server.url, '{ engine { maxOutputSide } }')).data!.engine.maxOutputSide).toBe(100);
  });

  it('refuses a larger size for both engines, naming the field, with nothing written', async () => {
    const style = await gqlUpload(
      server.url,
      UPLOAD_STYLE,
      { input: { name: 'Udnie', image: null } },
      { 'input.image': { bytes: await readShared(styleImage('udnie.jpg')) } },
    );
    const gatys = await gql(server.url, START_TRANSFER, {
      input: { contentImageId, styles: [{ styleId: style.data!.uploadStyle.id }], params: { size: 128 } },
    });
    expect(gatys.data!.startTransfer).toMatchObject({
      __typename: 'InputError',
      code: 'INVALID_INPUT',
      field: 'params.size',
      validValues: 'size ≤ 100',
    });
    const models = (await gql(server.url, '{ styleModels { id name } }')).data!.styleModels as {
      id: string;
      name: string;
    }[];
    const mosaic = models.find((m) => m.name === 'mosaic')!.id;
    const fast = await gql(server.url, START_TRANSFER, {
      input: { contentImageId, styleModelId: mosaic, fastParams: { size: 128 } },
    });
    expect(fast.data!.startTransfer).toMatchObject({ __typename: 'InputError', field: 'fastParams.size' });
    expect(await server.services.db.run.count()).toBe(0);
    // Without a size, a FAST run keeps the content's own, capped at the server's limit.
    const capped = await gql(server.url, START_TRANSFER, { input: { contentImageId, styleModelId: mosaic } });
    expect(capped.data!.startTransfer.__typename).toBe('Run');
    const run = await until(
      async () =>
        (
          await gql(server.url, `query ($id: ID!) { run(id: $id) { status width height quality { content } } }`, {
            id: capped.data!.startTransfer.id,
          })
        ).data!.run,
      (r) => r.status !== 'QUEUED' && r.status !== 'RUNNING',
      'the capped run',
    );
    expect(run).toMatchObject({ status: 'SUCCEEDED', width: 100, height: 100 });
  });
});

describe.skipIf(!RUN_POSTGRES)('quality score on PostgreSQL', () => {
  let database: TestDatabase;
  let server: TestServer;

  beforeAll(async () => {
    database = await createTestDatabase();
    server = await startTestServer({ DATABASE_URL: database.url, GC_INTERVAL_SECONDS: '0' });
  });

  afterAll(async () => {
    await server?.stop();
    await database?.drop();
  });

  it('stores both numbers of a FAST run with a reference painting, and its steps, in PostgreSQL', async () => {
    const contentImageId = await postImage(server.url, await readShared(contentImage('amber.jpg')));
    const mosaicImageId = await postImage(server.url, await readShared(styleImage('mosaic.jpg')));
    const models = (await gql(server.url, '{ styleModels { id name } }')).data!.styleModels as {
      id: string;
      name: string;
    }[];
    const mosaic = models.find((m) => m.name === 'mosaic')!.id;
    const attached = await gql(server.url, UPDATE_MODEL, { id: mosaic, input: { styleImageId: mosaicImageId } });
    expect(attached.data!.updateStyleModel.styleImage).toMatchObject({ id: mosaicImageId });
    const run = await runToEnd(server.url, { contentImageId, styleModelId: mosaic, fastParams: { size: 192 } });
    expect(run.status).toBe('SUCCEEDED');
    expectSane(run.quality, true);
    expect(run.steps).toEqual([{ step: 1, tile: null, tiles: null }]);

    const client = new pg.Client({ connectionString: database.url });
    await client.connect();
    try {
      const stored = await client.query('SELECT "qualityStyle", "qualityContent" FROM "Run"');
      expect(stored.rows).toEqual([{ qualityStyle: run.quality!.style, qualityContent: run.quality!.content }]);
      const model = await client.query('SELECT "styleImageId" FROM "StyleModel" WHERE "name" = $1', ['mosaic']);
      const sha256 = (
        await gql(server.url, 'query ($id: ID!) { node(id: $id) { ... on Image { sha256 } } }', {
          id: mosaicImageId,
        })
      ).data!.node.sha256;
      expect(model.rows).toEqual([{ styleImageId: sha256 }]);
    } finally {
      await client.end();
    }
    const ranked = await gql(server.url, '{ runs(first: 5, orderBy: STYLE_SCORE) { totalCount } }');
    expect(ranked.data!.runs.totalCount).toBe(1);
  });
});
