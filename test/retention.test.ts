// Retention: collections of unreferenced images and expired runs, deleteRun, `gramian gc` and the storage report.
// Real server, SQLite file and image folder. Old uploads and old runs are made by setting their times in the past
// directly in the database; every check reads both the rows and the files.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import sharp from 'sharp';
import { afterEach, describe, expect, it } from 'vitest';
import { encodeGlobalID } from '@pothos/plugin-relay';
import { LOCAL_PRINCIPAL } from '../src/auth/principal.js';
import { uploadStyle as uploadStyleAs } from '../src/domain/styles.js';
import { startTransfer } from '../src/domain/transfers.js';
import { ImageStore } from '../src/storage/image-store.js';
import { bearerKey, gql, startTestServer, type TestServer } from './helpers/server.js';
import { REPO_ROOT, SHARED_MODELS, VGG19_UINT8 } from './helpers/shared.js';

const DAY = 86_400_000;
const daysAgo = (days: number) => new Date(Date.now() - days * DAY);
const FINAL = ['SUCCEEDED', 'FAILED', 'CANCELED'];

const START = /* GraphQL */ `
  mutation ($input: StartTransferInput!) {
    startTransfer(input: $input) {
      __typename
      ... on Run {
        id
        status
      }
      ... on Error {
        code
        message
      }
    }
  }
`;
const UPLOAD_STYLE = /* GraphQL */ `
  mutation ($input: UploadStyleInput!) {
    uploadStyle(input: $input) {
      __typename
      ... on Style {
        id
      }
      ... on Error {
        code
        message
      }
    }
  }
`;
const DELETE_STYLE = /* GraphQL */ `
  mutation ($id: ID!) {
    deleteStyle(id: $id) {
      __typename
    }
  }
`;
const DELETE_RUN = /* GraphQL */ `
  mutation ($id: ID!) {
    deleteRun(id: $id) {
      __typename
      ... on DeletedRun {
        deletedId
        imagesRemoved
        bytesFreed
      }
      ... on Error {
        code
        message
      }
    }
  }
`;
const CANCEL_RUN = /* GraphQL */ `
  mutation ($id: ID!) {
    cancelRun(id: $id) {
      __typename
    }
  }
`;
const RUN = /* GraphQL */ `
  query ($id: ID!) {
    run(id: $id) {
      id
      status
      content {
        sha256
      }
      result {
        sha256
      }
    }
  }
`;
const STORAGE = /* GraphQL */ `
  query {
    storage {
      images
      imageBytes
      unreferencedImages
      unreferencedBytes
      reclaimableImages
      reclaimableBytes
      oldestUnreferencedAt
      runs
      runsByStatus {
        status
        count
      }
      runSteps
      runPreviews
      styles
      retentionDays
      expiredRuns
      lastCollection {
        runs
        images
        bytes
      }
      nextCollectionAt
    }
  }
`;

/** Test servers collect only when told to, unless a test says otherwise; no mutation rate limit. */
const QUIET = { GC_INTERVAL_SECONDS: '0', RATE_LIMIT_MUTATIONS: '0' };

let servers: TestServer[] = [];
async function serve(extra: Record<string, string> = {}, dataDir?: string): Promise<TestServer> {
  const server = await startTestServer({ ...QUIET, ...extra }, dataDir);
  servers.push(server);
  return server;
}
afterEach(async () => {
  await Promise.all(servers.map((s) => s.stop()));
  servers = [];
});

/** A distinct small image on every call (random pixels). */
function png(size = 64): Promise<Buffer> {
  return sharp(randomBytes(size * size * 3), { raw: { width: size, height: size, channels: 3 } })
    .png()
    .toBuffer();
}

async function postImage(server: TestServer, bytes: Buffer, authorization?: string) {
  const response = await fetch(`${server.url}/images`, {
    method: 'POST',
    body: new Blob([new Uint8Array(bytes)]),
    // A non-browser client: the header that marks a request no page could send unasked (see src/http/cross-origin.ts).
    headers: { 'graphql-require-preflight': '1', ...(authorization ? { authorization } : {}) },
  });
  expect(response.status).toBe(201);
  return (await response.json()) as { id: string; sha256: string };
}

async function ok(promise: Promise<{ data?: any; errors?: unknown }>): Promise<any> {
  const answer = await promise;
  expect(answer.errors).toBeUndefined();
  return answer.data;
}

async function mosaicId(server: TestServer, authorization?: string): Promise<string> {
  const data = await ok(gql(server.url, '{ styleModels { id name } }', {}, { authorization }));
  return data.styleModels.find((m: { name: string }) => m.name === 'mosaic').id;
}

async function uploadStyle(server: TestServer, name: string, imageId: string, authorization?: string) {
  const data = await ok(gql(server.url, UPLOAD_STYLE, { input: { name, imageId } }, { authorization }));
  expect(data.uploadStyle.__typename).toBe('Style');
  return data.uploadStyle.id as string;
}

async function start(server: TestServer, input: Record<string, unknown>, authorization?: string): Promise<string> {
  const data = await ok(gql(server.url, START, { input }, { authorization }));
  expect(data.startTransfer).toMatchObject({ __typename: 'Run' });
  return data.startTransfer.id as string;
}

/** Polls the run until its status is one of `statuses` (no time limit but the test's). */
async function waitFor(server: TestServer, id: string, statuses: string[], authorization?: string) {
  for (;;) {
    const { run } = await ok(gql(server.url, RUN, { id }, { authorization }));
    if (statuses.includes(run.status)) return run;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** The database id of a Relay global id (base64 of `Type:id`). */
const localIdOf = (globalId: string) => Buffer.from(globalId, 'base64').toString().split(':')[1]!;

/** Image files under the store, by SHA-256 with their sizes, and anything else found there (temporary, trash). */
async function imageFiles(server: TestServer): Promise<{ sizes: Map<string, number>; others: string[] }> {
  const root = server.services.images.root;
  const sizes = new Map<string, number>();
  const others: string[] = [];
  for (const entry of await readdir(root, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const file = path.join(entry.parentPath, entry.name);
    const sha = /^[0-9a-f]{64}$/.test(entry.name) && path.dirname(file) === path.join(root, entry.name.slice(0, 2));
    if (sha) sizes.set(entry.name, (await stat(file)).size);
    else others.push(path.relative(root, file));
  }
  return { sizes, others };
}

/** Image rows and files agree: one file of the row's size per row, and nothing else in the folder. */
async function expectRowsMatchFiles(server: TestServer): Promise<Map<string, number>> {
  const rows = await server.services.db.image.findMany({ select: { id: true, bytes: true } });
  const files = await imageFiles(server);
  expect(files.others).toEqual([]);
  expect(files.sizes).toEqual(new Map(rows.map((r) => [r.id, r.bytes])));
  return files.sizes;
}

/** Every row that names an image, as it names it. */
async function references(server: TestServer) {
  const { db } = server.services;
  return {
    runs: await db.run.findMany({
      orderBy: { id: 'asc' },
      select: {
        id: true,
        contentImageId: true,
        resultImageId: true,
        checkpointImageId: true,
        styles: { select: { imageId: true } },
        previews: { select: { imageId: true } },
      },
    }),
    styles: await db.style.findMany({ orderBy: { id: 'asc' }, select: { id: true, imageId: true } }),
    models: await db.styleModel.findMany({
      where: { previewImageId: { not: null } },
      orderBy: { id: 'asc' },
      select: { id: true, previewImageId: true },
    }),
  };
}

function referencedIds(refs: Awaited<ReturnType<typeof references>>): Set<string> {
  const ids = new Set<string>();
  for (const run of refs.runs) {
    for (const id of [run.contentImageId, run.resultImageId, run.checkpointImageId]) if (id) ids.add(id);
    for (const s of run.styles) ids.add(s.imageId);
    for (const p of run.previews) ids.add(p.imageId);
  }
  for (const style of refs.styles) ids.add(style.imageId);
  for (const model of refs.models) ids.add(model.previewImageId!);
  return ids;
}

async function makeOld(server: TestServer, ids: string[], days = 2): Promise<void> {
  await server.services.db.image.updateMany({ where: { id: { in: ids } }, data: { createdAt: daysAgo(days) } });
}

async function imageStatus(server: TestServer, sha: string, authorization?: string): Promise<number> {
  return (await fetch(`${server.url}/images/${sha}`, { headers: authorization ? { authorization } : {} })).status;
}

describe('collection', () => {
  it('deletes exactly the images nothing references that were stored over a day ago, rows and files', async () => {
    const server = await serve();
    const { db, retention } = server.services;
    const model = await mosaicId(server);

    // Referenced by a style.
    const styleImage = await postImage(server, await png());
    const styleId = await uploadStyle(server, 'Kept', styleImage.id);
    // Referenced only by a finished run's style row, once its style is deleted.
    const runStyleImage = await postImage(server, await png());
    const goneStyleId = await uploadStyle(server, 'Gone', runStyleImage.id);
    // A GATYS run: content, result, previews and its style row.
    const content = await postImage(server, await png());
    const gatys = await start(server, {
      contentImageId: content.id,
      styles: [{ styleId: goneStyleId }],
      params: { size: 64, steps: 4, previewEvery: 2 },
    });
    // A FAST run, and a checkpoint image it names (set directly: only a stopped server writes one).
    const fastContent = await postImage(server, await png());
    const fast = await start(server, { contentImageId: fastContent.id, styleModelId: model, fastParams: { size: 64 } });
    await waitFor(server, gatys, FINAL);
    await waitFor(server, fast, FINAL);
    expect((await ok(gql(server.url, DELETE_STYLE, { id: goneStyleId }))).deleteStyle.__typename).toBe('Deleted');
    const checkpoint = await postImage(server, await png());
    await db.run.update({ where: { id: localIdOf(fast) }, data: { checkpointImageId: checkpoint.sha256 } });
    // Referenced by a style model's preview.
    const preview = await postImage(server, await png());
    await db.styleModel.update({ where: { id: localIdOf(model) }, data: { previewImageId: preview.sha256 } });
    // Nothing references these: two old uploads, one fresh.
    const old1 = await postImage(server, await png());
    const old2 = await postImage(server, await png());
    const fresh = await postImage(server, await png());

    // Everything but the fresh upload was stored two days ago; the finished runs ended long ago (no retention set).
    const all = (await db.image.findMany({ select: { id: true } })).map((i) => i.id);
    await makeOld(
      server,
      all.filter((id) => id !== fresh.sha256),
    );
    await db.run.updateMany({ data: { finishedAt: daysAgo(1000) } });
    const refsBefore = await references(server);
    const referenced = referencedIds(refsBefore);
    // Each way of referencing an image is present.
    expect(refsBefore.styles.map((s) => s.imageId)).toEqual([styleImage.sha256]);
    expect(refsBefore.models.map((m) => m.previewImageId)).toEqual([preview.sha256]);
    const gatysRow = refsBefore.runs.find((r) => r.id === localIdOf(gatys))!;
    expect(gatysRow.styles.map((s) => s.imageId)).toEqual([runStyleImage.sha256]);
    expect(gatysRow.previews.length).toBeGreaterThan(0);
    expect(gatysRow.resultImageId).not.toBeNull();
    expect(refsBefore.runs.find((r) => r.id === localIdOf(fast))!.checkpointImageId).toBe(checkpoint.sha256);
    const filesBefore = await expectRowsMatchFiles(server);

    const report = await retention.collect();

    expect(report).toMatchObject({
      runs: 0,
      images: 2,
      bytes: filesBefore.get(old1.sha256)! + filesBefore.get(old2.sha256)!,
    });
    const expected = new Map(filesBefore);
    expected.delete(old1.sha256);
    expected.delete(old2.sha256);
    expect(await expectRowsMatchFiles(server)).toEqual(expected);
    expect(await references(server)).toEqual(refsBefore);
    for (const id of referenced) expect(expected.has(id)).toBe(true);
    expect(await db.imageOwner.count({ where: { imageId: { in: [old1.sha256, old2.sha256] } } })).toBe(0);
    expect(await db.run.count()).toBe(2);
    expect(await imageStatus(server, old1.sha256)).toBe(404);
    expect(await imageStatus(server, fresh.sha256)).toBe(200);
    expect(await imageStatus(server, styleImage.sha256)).toBe(200);
    // The style and both runs read as before.
    const gatysRun = (await ok(gql(server.url, RUN, { id: gatys }))).run;
    expect(gatysRun).toMatchObject({ status: 'SUCCEEDED', content: { sha256: content.sha256 } });
    expect(gatysRun.result).not.toBeNull();
    expect((await ok(gql(server.url, 'query ($id: ID!) { style(id: $id) { id } }', { id: styleId }))).style).toEqual({
      id: styleId,
    });

    // Nothing more to do; the fresh upload goes once it is a day old.
    expect(await retention.collect()).toMatchObject({ runs: 0, images: 0, bytes: 0 });
    await makeOld(server, [fresh.sha256]);
    expect(await retention.collect()).toMatchObject({ images: 1, bytes: expected.get(fresh.sha256) });
    expected.delete(fresh.sha256);
    expect(await expectRowsMatchFiles(server)).toEqual(expected);
  });

  it('keeps an upload of bytes stored long ago for another day: storing them again renews them', async () => {
    const server = await serve();
    const bytes = await png();
    const first = await postImage(server, bytes);
    await makeOld(server, [first.sha256], 3);
    const again = await postImage(server, bytes);
    expect(again.sha256).toBe(first.sha256);
    expect(await server.services.retention.collect()).toMatchObject({ images: 0 });
    expect(await imageStatus(server, first.sha256)).toBe(200);
    await expectRowsMatchFiles(server);
  });

  it('keeps an image two owners share until neither references it', async () => {
    const server = await serve({ GRAMIAN_AUTH: 'keys' });
    const alice = await bearerKey(server, 'alice', ['run', 'manage']);
    const bob = await bearerKey(server, 'bob', ['run', 'manage']);
    const bytes = await png();
    const shared = await postImage(server, bytes, alice);
    expect((await postImage(server, bytes, bob)).sha256).toBe(shared.sha256);
    expect(await server.services.db.imageOwner.count({ where: { imageId: shared.sha256 } })).toBe(2);
    // Alice's run uses it as content; Bob's style is the same image.
    const run = await start(
      server,
      { contentImageId: shared.id, styleModelId: await mosaicId(server, alice), fastParams: { size: 64 } },
      alice,
    );
    const bobStyle = await uploadStyle(server, 'Same bytes', shared.id, bob);
    const finished = await waitFor(server, run, FINAL, alice);
    expect(finished.status).toBe('SUCCEEDED');
    await makeOld(
      server,
      (await server.services.db.image.findMany({ select: { id: true } })).map((i) => i.id),
    );

    // Alice deletes her run: its result goes, the shared image stays (Bob's style).
    const deleted = (await ok(gql(server.url, DELETE_RUN, { id: run }, { authorization: alice }))).deleteRun;
    expect(deleted).toMatchObject({ __typename: 'DeletedRun', deletedId: run, imagesRemoved: 1 });
    expect(await server.services.retention.collect()).toMatchObject({ images: 0 });
    expect(await imageStatus(server, shared.sha256, bob)).toBe(200);
    expect(await expectRowsMatchFiles(server)).toEqual(new Map([[shared.sha256, bytes.byteLength]]));

    // Bob deletes his style: now nothing references it, and it was stored over a day ago.
    await ok(gql(server.url, DELETE_STYLE, { id: bobStyle }, { authorization: bob }));
    expect(await server.services.retention.collect()).toMatchObject({ images: 1, bytes: bytes.byteLength });
    expect(await expectRowsMatchFiles(server)).toEqual(new Map());
    expect(await server.services.db.imageOwner.count()).toBe(0);
  });

  it('never deletes what an upload, a run or a style names while collections run beside them', async () => {
    const server = await serve();
    const { db, retention } = server.services;
    const model = await mosaicId(server);
    const runs: { id: string; content: string }[] = [];
    const styles: { id: string; image: string }[] = [];
    const reuploaded: string[] = [];
    const outcomes = { runs: 0, runsNotFound: 0, styles: 0, stylesNotFound: 0, collected: 0 };
    for (let i = 0; i < 20; i++) {
      // Three images nothing references, stored two days ago: the collection may take each.
      const content = await postImage(server, await png());
      const style = await postImage(server, await png());
      const again = await png();
      const stored = await postImage(server, again);
      await makeOld(server, [content.sha256, style.sha256, stored.sha256]);
      // Each iteration starts the collection a little later against the requests (0 to 19 ms), so that it falls
      // before, between and after their checks and writes.
      const collect = async () => {
        await new Promise((resolve) => setTimeout(resolve, i));
        return retention.collect();
      };
      const [run, uploaded, repost, report] = await Promise.all([
        gql(server.url, START, {
          input: { contentImageId: content.id, styleModelId: model, fastParams: { size: 64 } },
        }),
        gql(server.url, UPLOAD_STYLE, { input: { name: `Style ${i}`, imageId: style.id } }),
        postImage(server, again),
        collect(),
      ]);
      outcomes.collected += report.images;
      expect(run.errors).toBeUndefined();
      expect(uploaded.errors).toBeUndefined();
      // Either accepted, or refused as not found with nothing written.
      const started = run.data!.startTransfer;
      if (started.__typename === 'Run') {
        runs.push({ id: started.id, content: content.sha256 });
        outcomes.runs++;
      } else {
        expect(started).toMatchObject({ __typename: 'NotFoundError', code: 'NOT_FOUND' });
        outcomes.runsNotFound++;
      }
      const styled = uploaded.data!.uploadStyle;
      if (styled.__typename === 'Style') {
        styles.push({ id: styled.id, image: style.sha256 });
        outcomes.styles++;
      } else {
        expect(styled).toMatchObject({ __typename: 'NotFoundError', code: 'NOT_FOUND' });
        outcomes.stylesNotFound++;
      }
      // Stored again: kept, whatever the collection did with the old row.
      expect(repost.sha256).toBe(stored.sha256);
      reuploaded.push(stored.sha256);
    }
    console.log('concurrent outcomes', outcomes);
    expect(outcomes.runs + outcomes.runsNotFound).toBe(20);

    for (const run of runs) {
      const finished = await waitFor(server, run.id, FINAL);
      expect(finished).toMatchObject({ status: 'SUCCEEDED', content: { sha256: run.content } });
      expect(finished.result).not.toBeNull();
    }
    // Nothing refused was written.
    expect(await db.run.count()).toBe(runs.length);
    expect(await db.style.count()).toBe(styles.length);
    for (const style of styles) {
      expect((await db.style.findUniqueOrThrow({ where: { id: localIdOf(style.id) } })).imageId).toBe(style.image);
    }
    // Every referenced image and every image answered to an upload has its row and its file.
    const files = await expectRowsMatchFiles(server);
    for (const id of referencedIds(await references(server))) expect(files.has(id)).toBe(true);
    for (const id of reuploaded) expect(files.has(id)).toBe(true);
    for (const sha of [...runs.map((r) => r.content), ...styles.map((s) => s.image), ...reuploaded])
      expect(await imageStatus(server, sha)).toBe(200);
  });

  it('decides each interleaving with a store or a reference: kept, or NOT_FOUND with nothing written', async () => {
    const server = await serve();
    const { db, images, retention, runs, engineInfo, config } = server.services;
    const model = await mosaicId(server);
    /** An old image nothing references, stored and checked. */
    const oldImage = async () => {
      const checked = await images.check(await png(), 'image');
      await images.save(checked, LOCAL_PRINCIPAL.owner);
      await makeOld(server, [checked.sha256]);
      return checked;
    };
    /** The server's client, but a collection runs right before (or after) one kind of write. */
    const collectingAround = (
      model: 'image' | 'style' | 'run',
      operation: 'upsert' | 'create',
      when: 'before' | 'after',
    ) => {
      // Typed loosely: the model and the operation are chosen at run time.
      const query: any = {
        [model]: {
          async [operation]({ args, query }: { args: unknown; query: (args: unknown) => Promise<unknown> }) {
            if (when === 'before') await retention.collect();
            const result = await query(args);
            if (when === 'after') await retention.collect();
            return result;
          },
        },
      };
      return db.$extends({ query }) as unknown as typeof db;
    };
    const storeOn = (client: typeof db) => new ImageStore(client, images.root, images.limits);
    const transferOn = (client: typeof db, contentImageId: string) =>
      startTransfer(
        { db: client, images: storeOn(client), runs, backend: engineInfo, maxRunWork: config.maxRunWork },
        LOCAL_PRINCIPAL,
        { contentImageId, styleModelId: localIdOf(model), fastParams: { size: 64 } },
      );

    // Stored again while a collection removes the old row and file (between the file check and the row): the row is
    // written fresh and so is the file.
    const stored = await oldImage();
    const row = await storeOn(collectingAround('image', 'upsert', 'before')).save(stored, LOCAL_PRINCIPAL.owner);
    expect(row.id).toBe(stored.sha256);
    expect(await retention.collect()).toMatchObject({ images: 0 });
    expect((await expectRowsMatchFiles(server)).has(stored.sha256)).toBe(true);

    // Named by a style or a run after the request found it, but collected before the row is written: NOT_FOUND,
    // nothing written, the image gone.
    const forStyle = await oldImage();
    await expect(
      uploadStyleAs(collectingAround('style', 'create', 'before'), images, LOCAL_PRINCIPAL, {
        name: 'Too late',
        imageId: forStyle.sha256,
        tags: [],
      }),
    ).rejects.toMatchObject({ code: 'NOT_FOUND', type: 'Image' });
    const forRun = await oldImage();
    await expect(transferOn(collectingAround('run', 'create', 'before'), forRun.sha256)).rejects.toMatchObject({
      code: 'NOT_FOUND',
      type: 'Image',
    });
    expect([await db.style.count(), await db.run.count()]).toEqual([0, 0]);
    let files = await expectRowsMatchFiles(server);
    expect([files.has(forStyle.sha256), files.has(forRun.sha256)]).toEqual([false, false]);

    // Collected right after the row is written: kept, row and file.
    const keptByStyle = await oldImage();
    const style = await uploadStyleAs(collectingAround('style', 'create', 'after'), images, LOCAL_PRINCIPAL, {
      name: 'In time',
      imageId: keptByStyle.sha256,
      tags: [],
    });
    const keptByRun = await oldImage();
    const run = await transferOn(collectingAround('run', 'create', 'after'), keptByRun.sha256);
    files = await expectRowsMatchFiles(server);
    expect([files.has(keptByStyle.sha256), files.has(keptByRun.sha256)]).toEqual([true, true]);
    expect(style.imageId).toBe(keptByStyle.sha256);
    const finished = await waitFor(server, encodeGlobalID('Run', run.id), FINAL);
    expect(finished).toMatchObject({ status: 'SUCCEEDED', content: { sha256: keptByRun.sha256 } });
  });

  it('collects on its own, shortly after start and then every GC_INTERVAL_SECONDS', async () => {
    const server = await serve({ GC_INTERVAL_SECONDS: '1' });
    const old = await postImage(server, await png());
    await makeOld(server, [old.sha256]);
    while (await server.services.db.image.findUnique({ where: { id: old.sha256 } }))
      await new Promise((resolve) => setTimeout(resolve, 100));
    expect(await imageStatus(server, old.sha256)).toBe(404);
    await expectRowsMatchFiles(server);
    const { storage } = await ok(gql(server.url, STORAGE));
    expect(storage.lastCollection).not.toBeNull();
    expect(storage.nextCollectionAt).not.toBeNull();
  });

  it('stops with the server: a collection in progress ends at a batch and the server waits for it', async () => {
    const dataDir = await mkdtemp(path.join(os.tmpdir(), 'gramian-retention-'));
    try {
      const server = await serve({}, dataDir);
      const { images, retention } = server.services;
      const old: string[] = [];
      for (let i = 0; i < 400; i++)
        old.push((await images.save(await images.check(await png(16), 'image'), LOCAL_PRINCIPAL.owner)).id);
      await makeOld(server, old);
      const order: string[] = [];
      const pass = retention.collect().then((report) => {
        order.push('collection');
        return report;
      });
      // Stopped once its first batch is in.
      while ((await server.services.db.image.count()) === old.length) await new Promise(setImmediate);
      await server.stop();
      order.push('server stopped');
      servers = [];
      // It ended (after one batch or all of them) before the server let go of the database.
      const report = await pass;
      expect(order).toEqual(['collection', 'server stopped']);
      expect(report.images).toBeGreaterThan(0);
      expect(report.images).toBeLessThanOrEqual(old.length);
      // And left rows and files in agreement: a new server on the same data collects the rest.
      const again = await serve({}, dataDir);
      await expectRowsMatchFiles(again);
      expect(await again.services.retention.collect()).toMatchObject({ images: old.length - report.images });
      expect(await expectRowsMatchFiles(again)).toEqual(new Map());
    } finally {
      await Promise.all(servers.map((s) => s.stop()));
      servers = [];
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});

describe('deleteRun', () => {
  it('deletes an own finished run and the images only it used; not another owner’s, not a running one', async () => {
    const server = await serve({ GRAMIAN_AUTH: 'keys' });
    const { db } = server.services;
    const alice = await bearerKey(server, 'alice', ['run', 'manage']);
    const bob = await bearerKey(server, 'bob', ['run', 'manage']);
    const reader = await bearerKey(server, 'alice', ['read'], 'alice read');
    const admin = await bearerKey(server, 'ops', ['admin']);
    const styleImage = await postImage(server, await png(), alice);
    const styleId = await uploadStyle(server, 'Noise', styleImage.id, alice);
    const content = await postImage(server, await png(), alice);
    // Stored before the run and used by nothing: not the run's to delete.
    const stray = await postImage(server, await png(), alice);
    const input = {
      contentImageId: content.id,
      styles: [{ styleId }],
      params: { size: 64, steps: 4, previewEvery: 2 },
    };
    const done = await start(server, input, alice);
    expect((await waitFor(server, done, FINAL, alice)).status).toBe('SUCCEEDED');
    const row = await db.run.findUniqueOrThrow({
      where: { id: localIdOf(done) },
      include: { previews: true, styles: true },
    });
    const own = new Set([row.contentImageId, row.resultImageId!, ...row.previews.map((p) => p.imageId)]);
    expect(own.size).toBeGreaterThanOrEqual(3);
    const files = await expectRowsMatchFiles(server);
    const ownBytes = [...own].reduce((sum, id) => sum + files.get(id)!, 0);

    // Another owner: not found, and nothing changes. A read key: forbidden.
    const bobs = (await ok(gql(server.url, DELETE_RUN, { id: done }, { authorization: bob }))).deleteRun;
    expect(bobs).toMatchObject({ __typename: 'NotFoundError', code: 'NOT_FOUND' });
    const read = await gql(server.url, DELETE_RUN, { id: done }, { authorization: reader });
    expect(read.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    expect(await db.run.count({ where: { id: row.id } })).toBe(1);
    expect(await expectRowsMatchFiles(server)).toEqual(files);
    const malformed = (await ok(gql(server.url, DELETE_RUN, { id: 'nope' }, { authorization: alice }))).deleteRun;
    expect(malformed).toMatchObject({ code: 'NOT_FOUND' });

    // Her own: the run, its steps, previews and style rows, and its images but the style's.
    const deleted = (await ok(gql(server.url, DELETE_RUN, { id: done }, { authorization: alice }))).deleteRun;
    expect(deleted).toEqual({
      __typename: 'DeletedRun',
      deletedId: done,
      imagesRemoved: own.size,
      bytesFreed: ownBytes,
    });
    const where = { runId: row.id };
    expect([
      await db.run.count({ where: { id: row.id } }),
      await db.runStep.count({ where }),
      await db.runPreview.count({ where }),
      await db.runStyle.count({ where }),
    ]).toEqual([0, 0, 0, 0]);
    const left = new Map(files);
    for (const id of own) left.delete(id);
    expect(await expectRowsMatchFiles(server)).toEqual(left);
    expect(left.has(styleImage.sha256)).toBe(true);
    expect((await ok(gql(server.url, RUN, { id: done }, { authorization: alice }))).run).toBeNull();
    const again = (await ok(gql(server.url, DELETE_RUN, { id: done }, { authorization: alice }))).deleteRun;
    expect(again).toMatchObject({ code: 'NOT_FOUND' });

    // A running run is a conflict; a queued one behind it is taken out of the queue and deleted.
    const content2 = await postImage(server, await png(), alice);
    const next = { ...input, contentImageId: content2.id };
    const long = await start(server, { ...next, params: { size: 64, steps: 5000 } }, alice);
    await waitFor(server, long, ['RUNNING'], alice);
    const queued = await start(server, { ...next, params: { size: 64, steps: 2 } }, alice);
    expect((await waitFor(server, queued, ['QUEUED'], alice)).status).toBe('QUEUED');
    const running = (await ok(gql(server.url, DELETE_RUN, { id: long }, { authorization: alice }))).deleteRun;
    expect(running).toMatchObject({ __typename: 'ConflictError', code: 'CONFLICT' });
    expect((await ok(gql(server.url, RUN, { id: long }, { authorization: alice }))).run.status).toBe('RUNNING');
    const dequeued = (await ok(gql(server.url, DELETE_RUN, { id: queued }, { authorization: alice }))).deleteRun;
    expect(dequeued).toMatchObject({ __typename: 'DeletedRun', deletedId: queued });
    expect(await db.run.count({ where: { id: localIdOf(queued) } })).toBe(0);
    expect(await server.services.runs.position(localIdOf(queued))).toBeNull();

    // Cancelled, it can go; an admin may delete anyone's run.
    await ok(gql(server.url, CANCEL_RUN, { id: long }, { authorization: alice }));
    const byAdmin = (await ok(gql(server.url, DELETE_RUN, { id: long }, { authorization: admin }))).deleteRun;
    expect(byAdmin).toMatchObject({ __typename: 'DeletedRun', deletedId: long });
    expect(await db.run.count()).toBe(0);
    // The content is used by no run any more, but Alice's style still holds its image.
    expect(await expectRowsMatchFiles(server)).toEqual(
      new Map([styleImage.sha256, stray.sha256].map((id) => [id, files.get(id)])),
    );
  });
});

describe('deleteRun of a run whose content was stored again after it ended', () => {
  it('keeps that image for its day, as a fresh upload', async () => {
    const server = await serve();
    const bytes = await png();
    const content = await postImage(server, bytes);
    const run = await start(server, {
      contentImageId: content.id,
      styleModelId: await mosaicId(server),
      fastParams: { size: 64 },
    });
    await waitFor(server, run, FINAL);
    await postImage(server, bytes);
    const deleted = (await ok(gql(server.url, DELETE_RUN, { id: run }))).deleteRun;
    // The result only: the content is someone's upload again, to be named within a day.
    expect(deleted).toMatchObject({ __typename: 'DeletedRun', imagesRemoved: 1 });
    expect([...(await expectRowsMatchFiles(server)).keys()]).toEqual([content.sha256]);
    await makeOld(server, [content.sha256]);
    expect(await server.services.retention.collect()).toMatchObject({ images: 1, bytes: bytes.byteLength });
  });
});

describe('RUN_RETENTION_DAYS', () => {
  it('deletes finished runs that ended longer ago, with the images nothing else uses, and only those', async () => {
    const server = await serve({ RUN_RETENTION_DAYS: '30' });
    const { db, retention } = server.services;
    const model = await mosaicId(server);
    const content = await postImage(server, await png());
    // The same content, two sizes: two different results.
    const input = (size: number) => ({ contentImageId: content.id, styleModelId: model, fastParams: { size } });
    const [expired, recent] = [await start(server, input(64)), await start(server, input(48))];
    await waitFor(server, expired, FINAL);
    await waitFor(server, recent, FINAL);
    const expiredRow = await db.run.findUniqueOrThrow({ where: { id: localIdOf(expired) } });
    const recentRow = await db.run.findUniqueOrThrow({ where: { id: localIdOf(recent) } });
    expect(expiredRow.resultImageId).not.toBe(recentRow.resultImageId);
    // As if it had run 40 days ago (its images stored then), and the other 29 days ago.
    await db.run.update({ where: { id: expiredRow.id }, data: { finishedAt: daysAgo(40) } });
    await db.run.update({ where: { id: recentRow.id }, data: { finishedAt: daysAgo(29) } });
    await makeOld(server, [content.sha256, expiredRow.resultImageId!], 41);
    await makeOld(server, [recentRow.resultImageId!], 30);
    const files = await expectRowsMatchFiles(server);
    expect((await ok(gql(server.url, STORAGE))).storage).toMatchObject({ retentionDays: 30, expiredRuns: 1 });

    const report = await retention.collect();
    expect(report).toMatchObject({ runs: 1, images: 1, bytes: files.get(expiredRow.resultImageId!) });
    expect(await db.run.findMany({ select: { id: true } })).toEqual([{ id: recentRow.id }]);
    const left = new Map(files);
    left.delete(expiredRow.resultImageId!);
    // The content stays: the recent run uses it.
    expect(await expectRowsMatchFiles(server)).toEqual(left);
    expect((await ok(gql(server.url, RUN, { id: recent }))).run).toMatchObject({
      status: 'SUCCEEDED',
      content: { sha256: content.sha256 },
      result: { sha256: recentRow.resultImageId },
    });
    expect((await ok(gql(server.url, STORAGE))).storage).toMatchObject({ expiredRuns: 0, runs: 1 });

    // Once the other ended long enough ago, it goes too, and the content with it.
    await db.run.update({ where: { id: recentRow.id }, data: { finishedAt: daysAgo(31) } });
    expect(await retention.collect()).toMatchObject({ runs: 1, images: 2 });
    expect(await db.run.count()).toBe(0);
    expect(await expectRowsMatchFiles(server)).toEqual(new Map());
  });
});

describe('storage and gramian gc', () => {
  it('tells an admin what is stored, matching the files; a read key is forbidden', async () => {
    const server = await serve({ GRAMIAN_AUTH: 'keys' });
    const admin = await bearerKey(server, 'ops', ['admin']);
    const reader = await bearerKey(server, 'ops', ['read'], 'ops read');
    const runner = await bearerKey(server, 'alice', ['run', 'manage']);
    const content = await postImage(server, await png(), runner);
    const run = await start(
      server,
      { contentImageId: content.id, styleModelId: await mosaicId(server, runner), fastParams: { size: 64 } },
      runner,
    );
    await waitFor(server, run, FINAL, runner);
    const old = await postImage(server, await png(), runner);
    const older = await postImage(server, await png(), runner);
    const fresh = await postImage(server, await png(), runner);
    await makeOld(server, [old.sha256], 2);
    await makeOld(server, [older.sha256], 5);

    const forbidden = await gql(server.url, STORAGE, {}, { authorization: reader });
    expect(forbidden.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    expect(forbidden.data).toBeFalsy();

    const files = await expectRowsMatchFiles(server);
    const bytes = (ids: string[]) => ids.reduce((sum, id) => sum + files.get(id)!, 0);
    const { storage } = await ok(gql(server.url, STORAGE, {}, { authorization: admin }));
    const storedOlder = (await server.services.db.image.findUniqueOrThrow({ where: { id: older.sha256 } })).createdAt;
    expect(storage).toEqual({
      images: files.size,
      imageBytes: [...files.values()].reduce((a, b) => a + b, 0),
      unreferencedImages: 3,
      unreferencedBytes: bytes([old.sha256, older.sha256, fresh.sha256]),
      reclaimableImages: 2,
      reclaimableBytes: bytes([old.sha256, older.sha256]),
      oldestUnreferencedAt: storedOlder.toISOString(),
      runs: 1,
      runsByStatus: [
        { status: 'QUEUED', count: 0 },
        { status: 'RUNNING', count: 0 },
        { status: 'SUCCEEDED', count: 1 },
        { status: 'FAILED', count: 0 },
        { status: 'CANCELED', count: 0 },
      ],
      runSteps: await server.services.db.runStep.count(),
      runPreviews: 0,
      styles: 0,
      retentionDays: null,
      expiredRuns: 0,
      lastCollection: null,
      nextCollectionAt: null,
    });
    expect(files.size).toBe(5);

    await server.services.retention.collect();
    const after = (await ok(gql(server.url, STORAGE, {}, { authorization: admin }))).storage;
    const left = await expectRowsMatchFiles(server);
    expect(after).toMatchObject({
      images: left.size,
      imageBytes: [...left.values()].reduce((a, b) => a + b, 0),
      unreferencedImages: 1,
      reclaimableImages: 0,
      reclaimableBytes: 0,
      lastCollection: { runs: 0, images: 2, bytes: bytes([old.sha256, older.sha256]) },
    });
  });

  it('`gramian gc` collects now in a running server’s data folder and prints what it removed', async () => {
    const server = await serve();
    const { db } = server.services;
    const content = await postImage(server, await png());
    const run = await start(server, {
      contentImageId: content.id,
      styleModelId: await mosaicId(server),
      fastParams: { size: 64 },
    });
    await waitFor(server, run, FINAL);
    const kept = await start(server, {
      contentImageId: (await postImage(server, await png())).id,
      styleModelId: await mosaicId(server),
      fastParams: { size: 64 },
    });
    await waitFor(server, kept, FINAL);
    const old = [await postImage(server, await png()), await postImage(server, await png())];
    const fresh = await postImage(server, await png());
    const expiredRow = await db.run.findUniqueOrThrow({ where: { id: localIdOf(run) } });
    await db.run.update({ where: { id: expiredRow.id }, data: { finishedAt: daysAgo(40) } });
    await makeOld(server, [content.sha256, expiredRow.resultImageId!], 41);
    await makeOld(
      server,
      old.map((i) => i.sha256),
    );
    const files = await expectRowsMatchFiles(server);
    const gone = [content.sha256, expiredRow.resultImageId!, ...old.map((i) => i.sha256)];
    const goneBytes = gone.reduce((sum, id) => sum + files.get(id)!, 0);

    const gramian = (args: string[]) =>
      promisify(execFile)(process.execPath, [path.join(REPO_ROOT, 'bin/gramian.js'), ...args], {
        cwd: REPO_ROOT,
        env: {
          ...process.env,
          DATA_DIR: server.dataDir,
          RUN_RETENTION_DAYS: '30',
          GRAMIAN_WEIGHTS: VGG19_UINT8,
          GRAMIAN_MODELS: SHARED_MODELS,
        },
      });
    const { stdout } = await gramian(['gc']);
    expect(stdout).toContain('removed 1 runs (finished over 30 days ago)');
    expect(stdout).toContain(`removed 4 images, ${goneBytes} bytes`);
    const left = new Map(files);
    for (const id of gone) left.delete(id);
    expect(await expectRowsMatchFiles(server)).toEqual(left);
    expect(left.has(fresh.sha256)).toBe(true);
    expect(await db.run.findMany({ select: { id: true } })).toEqual([{ id: localIdOf(kept) }]);
    // The server carries on with the same data: it reads, stores and runs.
    expect((await ok(gql(server.url, RUN, { id: kept }))).run.status).toBe('SUCCEEDED');
    expect(await imageStatus(server, fresh.sha256)).toBe(200);
    const next = await start(server, {
      contentImageId: fresh.id,
      styleModelId: await mosaicId(server),
      fastParams: { size: 64 },
    });
    expect((await waitFor(server, next, FINAL)).status).toBe('SUCCEEDED');

    const json = JSON.parse((await gramian(['gc', '--json'])).stdout);
    expect(json.removed).toMatchObject({ runs: 0, images: 0, bytes: 0 });
    const now = await expectRowsMatchFiles(server);
    expect(json.storage).toMatchObject({ images: now.size, bytes: [...now.values()].reduce((a, b) => a + b, 0) });

    // The command and the server at once: runs name old unreferenced images while the command collects them.
    const olds: { id: string; sha256: string }[] = [];
    for (let i = 0; i < 12; i++) olds.push(await postImage(server, await png()));
    await makeOld(
      server,
      olds.map((i) => i.sha256),
    );
    let exited = false;
    const collecting = gramian(['gc']).finally(() => (exited = true));
    const accepted: { id: string; content: string }[] = [];
    let refused = 0;
    const model = await mosaicId(server);
    for (const image of olds) {
      const answer = await ok(
        gql(server.url, START, { input: { contentImageId: image.id, styleModelId: model, fastParams: { size: 48 } } }),
      );
      if (answer.startTransfer.__typename === 'Run')
        accepted.push({ id: answer.startTransfer.id, content: image.sha256 });
      else {
        expect(answer.startTransfer).toMatchObject({ code: 'NOT_FOUND' });
        refused++;
      }
      if (exited) break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const removed = Number(/removed (\d+) images/.exec((await collecting).stdout)![1]);
    console.log('gc beside the server', { accepted: accepted.length, refused, removed });
    for (const run of accepted)
      expect(await waitFor(server, run.id, FINAL)).toMatchObject({
        status: 'SUCCEEDED',
        content: { sha256: run.content },
      });
    expect(await db.run.count()).toBe(2 + accepted.length);
    const final = await expectRowsMatchFiles(server);
    for (const id of referencedIds(await references(server))) expect(final.has(id)).toBe(true);
  });
});
