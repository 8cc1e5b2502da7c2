// Images in S3-compatible object storage (IMAGE_STORE=s3://bucket/prefix) against a real S3 server on loopback
// (s3rver): uploads, run results and checkpoints land in the bucket under their SHA-256, the image route serves them
// as from a folder, concurrent writers of the same bytes end with one object, collections delete from the bucket,
// and a store that cannot be used stops the server at start with a message naming what to change.
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { GetObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { encodeGlobalID } from '@pothos/plugin-relay';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { databaseFileFromUrl } from '../src/storage/db.js';
import { openBlobStore, readBlobStoreSpec, type BlobStore } from '../src/storage/blob-store.js';
import { ImageCollector } from '../src/storage/image-collector.js';
import { CHECKPOINT_MIME, ImageStore } from '../src/storage/image-store.js';
import { startS3Server, type S3TestServer } from './helpers/s3-server.js';
import {
  bearerKey,
  gql,
  gqlUpload,
  START_TRANSFER,
  startTestServer,
  until,
  UPLOAD_STYLE,
  type TestServer,
} from './helpers/server.js';
import { contentImage, readShared, styleImage } from './helpers/shared.js';

const PREFIX = 'gramian/images';
const SHA256_KEY = new RegExp(`^${PREFIX}/[0-9a-f]{64}$`);

let s3: S3TestServer;
let server: TestServer;
let alice: string;
/** A client of its own, as an operator would look into the bucket. */
let bucket: S3Client;

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

/** Every object under the prefix, by key, with its bytes. */
async function objects(): Promise<Map<string, Uint8Array>> {
  const found = new Map<string, Uint8Array>();
  const page = await bucket.send(new ListObjectsV2Command({ Bucket: s3.bucket, Prefix: `${PREFIX}/` }));
  expect(page.IsTruncated).toBeFalsy();
  for (const { Key } of page.Contents ?? []) {
    const object = await bucket.send(new GetObjectCommand({ Bucket: s3.bucket, Key }));
    found.set(Key!, await object.Body!.transformToByteArray());
  }
  return found;
}

/** A distinct small image on every call (random pixels). */
function png(size = 24): Promise<Buffer> {
  return sharp(randomBytes(size * size * 3), { raw: { width: size, height: size, channels: 3 } })
    .png()
    .toBuffer();
}

function s3Env(extra: Record<string, string> = {}): Record<string, string> {
  return {
    ...s3.env,
    IMAGE_STORE: `s3://${s3.bucket}/${PREFIX}`,
    GRAMIAN_AUTH: 'keys',
    GC_INTERVAL_SECONDS: '0',
    RATE_LIMIT_MUTATIONS: '0',
    ...extra,
  };
}

/** A second handle on the server's bucket, as another host would open it. */
function openAnother(): Promise<BlobStore> {
  return openBlobStore(`s3://${s3.bucket}/${PREFIX}`, server.dataDir, s3.env);
}

beforeAll(async () => {
  s3 = await startS3Server();
  bucket = new S3Client({
    endpoint: s3.endpoint,
    region: s3.env.AWS_REGION!,
    forcePathStyle: true,
    credentials: { accessKeyId: s3.env.AWS_ACCESS_KEY_ID!, secretAccessKey: s3.env.AWS_SECRET_ACCESS_KEY! },
  });
  server = await startTestServer(s3Env());
  alice = await bearerKey(server, 'alice', ['run', 'manage']);
});

afterAll(async () => {
  await server?.stop();
  bucket?.destroy();
  await s3?.stop();
});

describe('an S3 image store', () => {
  it('keeps uploads and results in the bucket by SHA-256 and serves them with an ETag', async () => {
    const styleBytes = await readShared(styleImage('the_scream.jpg'));
    const contentBytes = await readShared(contentImage('golden_gate.jpg'));
    const style = await gqlUpload(
      server.url,
      UPLOAD_STYLE,
      { input: { name: 'The Scream', tags: [], image: null } },
      { 'input.image': { bytes: styleBytes, name: 'the_scream.jpg', type: 'image/jpeg' } },
      { authorization: alice },
    );
    expect(style.errors, JSON.stringify(style)).toBeUndefined();
    expect(style.data?.uploadStyle).toMatchObject({ __typename: 'Style' });
    const started = await gqlUpload(
      server.url,
      START_TRANSFER,
      {
        input: {
          content: null,
          styles: [{ styleId: style.data!.uploadStyle.id, weight: 1 }],
          params: { size: 32, steps: 2, scales: 1 },
        },
      },
      { 'input.content': { bytes: contentBytes, name: 'golden_gate.jpg', type: 'image/jpeg' } },
      { authorization: alice },
    );
    expect(started.data?.startTransfer).toMatchObject({ __typename: 'Run' });
    const runQuery = `query ($id: ID!) { run(id: $id) { status error { code message } result { sha256 url mime } } }`;
    const run = await until(
      async () =>
        (await gql(server.url, runQuery, { id: started.data!.startTransfer.id }, { authorization: alice })).data!.run,
      (r) => ['SUCCEEDED', 'FAILED', 'CANCELED'].includes(r.status),
      'the run to end',
    );
    expect(run).toMatchObject({ status: 'SUCCEEDED', result: { mime: 'image/png' } });

    // The URL exactly as the API hands it out: signed, read without credentials.
    expect(run.result.url).toMatch(/\?exp=\d+&sig=/);
    const response = await fetch(`${server.url}${run.result.url}`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('image/png');
    const etag = response.headers.get('etag');
    expect(etag).toBe(`"${run.result.sha256}"`);
    const resultBytes = new Uint8Array(await response.arrayBuffer());
    expect(sha256(resultBytes)).toBe(run.result.sha256);
    const again = await fetch(`${server.url}${run.result.url}`, { headers: { 'if-none-match': etag! } });
    expect(again.status).toBe(304);

    const stored = await objects();
    for (const bytes of [styleBytes, contentBytes, resultBytes]) {
      const key = `${PREFIX}/${sha256(bytes)}`;
      expect(stored.has(key), key).toBe(true);
      expect(Buffer.compare(Buffer.from(stored.get(key)!), Buffer.from(bytes))).toBe(0);
    }
    // Every object under the prefix is named by the hash of its bytes; none went to a folder.
    for (const [key, bytes] of stored) {
      if (key.startsWith(`${PREFIX}/.trash/`)) continue;
      expect(key).toMatch(SHA256_KEY);
      expect(key).toBe(`${PREFIX}/${sha256(bytes)}`);
    }
    expect(existsSync(path.join(server.dataDir, 'images'))).toBe(false);
  });

  it('ends with one object and no error when two hosts store the same bytes at once', async () => {
    const hosts = [await openAnother(), await openAnother()];
    try {
      const limits = server.services.images.limits;
      const [first, second] = hosts.map((blobs) => new ImageStore(server.services.db, blobs, limits));
      const image = await first!.check(await png(), 'image');
      const rows = await Promise.all([
        first!.save(image, 'alice'),
        second!.save(image, 'bob'),
        first!.save(image, 'alice'),
        second!.save(image, 'alice'),
      ]);
      expect(new Set(rows.map((row) => row.id))).toEqual(new Set([image.sha256]));
      // Straight puts of a key that is there, all at once: none fails, the object stays whole. (Whether a reader
      // meanwhile sees the old or the new object whole is S3's guarantee, not s3rver's: it rewrites files in place.)
      await Promise.all(
        hosts.flatMap((blobs) => [1, 2, 3].map(() => blobs.put(image.sha256, image.bytes, image.mime))),
      );
      expect(sha256(await hosts[1]!.get(image.sha256))).toBe(image.sha256);
      const matching = [...(await objects()).keys()].filter((key) => key.endsWith(image.sha256));
      expect(matching).toEqual([`${PREFIX}/${image.sha256}`]);
      expect(await server.services.db.image.count({ where: { id: image.sha256 } })).toBe(1);
      expect(await server.services.db.imageOwner.count({ where: { imageId: image.sha256 } })).toBe(2);
    } finally {
      for (const blobs of hosts) blobs.close();
    }
  });

  it('round-trips a checkpoint object that the image route never serves', async () => {
    const { images, imageUrls } = server.services;
    const bytes = randomBytes(4096);
    const row = await images.saveObject(bytes, { mime: CHECKPOINT_MIME, width: 32, height: 24 }, 'alice');
    expect(row).toMatchObject({ id: sha256(bytes), mime: CHECKPOINT_MIME, bytes: 4096 });
    expect(Buffer.compare(Buffer.from(await images.read(row.id)), bytes)).toBe(0);
    expect((await objects()).has(`${PREFIX}/${row.id}`)).toBe(true);

    // Not as its owner, not with a signed URL, not as an Image node.
    expect((await fetch(`${server.url}/images/${row.id}`, { headers: { authorization: alice } })).status).toBe(404);
    expect((await fetch(`${server.url}${imageUrls.url(row.id)}`)).status).toBe(404);
    const node = await gql(
      server.url,
      `query ($id: ID!) { node(id: $id) { id } }`,
      { id: encodeGlobalID('Image', row.id) },
      { authorization: alice },
    );
    expect(node.data?.node).toBeNull();
    // An image goes through check() and save(), never saveObject.
    await expect(images.saveObject(bytes, { mime: 'image/png', width: 1, height: 1 }, 'alice')).rejects.toThrow(
      /not images/,
    );
  });

  it('deletes unreferenced images from the bucket, and keeps one stored again meanwhile', async () => {
    const { db, images, retention } = server.services;
    const makeOld = (ids: string[]) =>
      db.image.updateMany({ where: { id: { in: ids } }, data: { createdAt: new Date(Date.now() - 2 * 86_400_000) } });
    const style = await gqlUpload(
      server.url,
      UPLOAD_STYLE,
      { input: { name: 'Kept', tags: [], image: null } },
      { 'input.image': { bytes: await png(), name: 'kept.png', type: 'image/png' } },
      { authorization: alice },
    );
    expect(style.data?.uploadStyle).toMatchObject({ __typename: 'Style' });
    const referenced = (await db.style.findFirstOrThrow({ where: { name: 'Kept' } })).imageId;
    const unreferenced = await images.save(await images.check(await png(), 'image'), 'alice');
    await makeOld([unreferenced.id, referenced]);

    const report = await retention.collect();
    expect(report.images).toBeGreaterThanOrEqual(1);
    let stored = await objects();
    expect(stored.has(`${PREFIX}/${unreferenced.id}`)).toBe(false);
    expect(stored.has(`${PREFIX}/${referenced}`)).toBe(true);
    expect(await db.image.findUnique({ where: { id: unreferenced.id } })).toBeNull();
    expect([...stored.keys()].filter((key) => key.includes('/.trash/'))).toEqual([]);

    // Stored again by another host after the collection removed the row but before it moved the object aside: that
    // save found the object still there and wrote only its row, so the collection, finding the row back, puts the
    // object back.
    const again = await images.check(await png(), 'image');
    const saver = new ImageStore(db, await openAnother(), images.limits);
    await saver.save(again, 'alice');
    await makeOld([again.sha256]);
    const blobs = images.blobs;
    const racing: BlobStore = Object.assign(Object.create(blobs) as BlobStore, {
      moveAside: async (key: string) => {
        if (key === again.sha256) await saver.save(again, 'alice');
        return blobs.moveAside(key);
      },
    });
    const collector = new ImageCollector(databaseFileFromUrl(server.services.config.databaseUrl), { blobs: racing });
    try {
      const raced = await collector.reap({ storedBefore: new Date(Date.now() - 86_400_000), ids: [again.sha256] });
      expect(raced.ids).toEqual([again.sha256]);
    } finally {
      await collector.close();
      saver.blobs.close();
    }
    expect(await db.image.findUnique({ where: { id: again.sha256 } })).not.toBeNull();
    stored = await objects();
    expect(stored.get(`${PREFIX}/${again.sha256}`)).toBeDefined();
    expect(sha256(stored.get(`${PREFIX}/${again.sha256}`)!)).toBe(again.sha256);
    expect([...stored.keys()].filter((key) => key.includes('/.trash/'))).toEqual([]);
  });
});

describe('IMAGE_STORE and the AWS variables', () => {
  const read = (env: Record<string, string>) => {
    const problems: string[] = [];
    const spec = readBlobStoreSpec(env, '/data', problems);
    return { spec, problems };
  };

  it('is a folder by default, DATA_DIR/images, or the folder named', () => {
    expect(read({})).toEqual({ spec: { kind: 'folder', root: '/data/images' }, problems: [] });
    expect(read({ IMAGE_STORE: '/mnt/shared/images' }).spec).toEqual({ kind: 'folder', root: '/mnt/shared/images' });
  });

  it('reads the bucket, the prefix, the endpoint (S3-specific first), the region and the credentials', () => {
    expect(
      read({
        IMAGE_STORE: 's3://images.example/prod/gramian/',
        AWS_ENDPOINT_URL: 'http://general.example',
        AWS_ENDPOINT_URL_S3: 'https://s3.example',
        AWS_DEFAULT_REGION: 'eu-west-1',
        AWS_ACCESS_KEY_ID: 'id',
        AWS_SECRET_ACCESS_KEY: 'secret',
        AWS_SESSION_TOKEN: 'token',
      }),
    ).toEqual({
      spec: {
        kind: 's3',
        bucket: 'images.example',
        prefix: 'prod/gramian',
        endpoint: 'https://s3.example',
        region: 'eu-west-1',
        addressing: 'path',
        credentials: { accessKeyId: 'id', secretAccessKey: 'secret', sessionToken: 'token' },
      },
      problems: [],
    });
    // AWS itself: virtual-host addressing, the SDK's own credential chain; AWS_REGION before AWS_DEFAULT_REGION.
    expect(read({ IMAGE_STORE: 's3://bucket', AWS_REGION: 'us-west-2', AWS_DEFAULT_REGION: 'eu-west-1' }).spec).toEqual(
      {
        kind: 's3',
        bucket: 'bucket',
        prefix: '',
        region: 'us-west-2',
        addressing: 'virtual',
      },
    );
    expect(
      read({ IMAGE_STORE: 's3://bucket/x', AWS_ENDPOINT_URL: 'http://minio:9000', IMAGE_STORE_ADDRESSING: 'virtual' })
        .spec,
    ).toMatchObject({ region: 'us-east-1', addressing: 'virtual' });
  });

  it('says which variable is wrong', () => {
    expect(read({ IMAGE_STORE: 's3://bucket/x' }).problems).toEqual([
      'IMAGE_STORE=s3://bucket/x needs AWS_REGION (or AWS_DEFAULT_REGION), or AWS_ENDPOINT_URL for S3-compatible storage',
    ]);
    expect(read({ IMAGE_STORE: 's3://bucket/a/../b', AWS_REGION: 'x' }).problems[0]).toMatch(
      /^IMAGE_STORE=s3:\/\/bucket\/a\/..\/b: the prefix "a\/..\/b" must be plain path segments/,
    );
    expect(read({ IMAGE_STORE: 's3://bucket/x', AWS_ENDPOINT_URL_S3: 'minio:9000' }).problems).toEqual([
      'AWS_ENDPOINT_URL_S3=minio:9000 must be an http(s) URL such as https://s3.example.com',
    ]);
    expect(read({ IMAGE_STORE: 's3://bucket/x', AWS_REGION: 'x', AWS_ACCESS_KEY_ID: 'id' }).problems).toEqual([
      'AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY must be set together (or neither, for the SDK chain)',
    ]);
  });
});

describe('a store that cannot be used', () => {
  /** Starting a server with `env` fails; its message. */
  async function startFails(env: Record<string, string>): Promise<string> {
    const dataDir = await mkdtemp(path.join(os.tmpdir(), 'gramian-s3-bad-'));
    try {
      const error = await startTestServer(env, dataDir).then(
        async (started) => {
          await started.stop();
          throw new Error('the server started');
        },
        (failure: unknown) => failure as Error,
      );
      return error.message;
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  }

  it('names IMAGE_STORE when its value is not a folder or s3://bucket/prefix', async () => {
    expect(await startFails(s3Env({ IMAGE_STORE: 'gs://bucket/images' }))).toMatch(
      /IMAGE_STORE=gs:\/\/bucket\/images must be a folder path, or s3:\/\/bucket\/prefix/,
    );
    expect(await startFails(s3Env({ IMAGE_STORE: 's3://Not_A_Bucket/images' }))).toMatch(
      /IMAGE_STORE=s3:\/\/Not_A_Bucket\/images: "Not_A_Bucket" is not a bucket name/,
    );
    expect(await startFails(s3Env({ IMAGE_STORE_ADDRESSING: 'sideways' }))).toMatch(
      /IMAGE_STORE_ADDRESSING=sideways must be path or virtual/,
    );
  });

  it('stops at start when the endpoint does not answer, the bucket is missing or access is denied', async () => {
    const closedPort = await new Promise<number>((resolve) => {
      const probe = createServer().listen(0, '127.0.0.1', () => {
        const { port } = probe.address() as { port: number };
        probe.close(() => resolve(port));
      });
    });
    expect(await startFails(s3Env({ AWS_ENDPOINT_URL: `http://127.0.0.1:${closedPort}` }))).toMatch(
      /IMAGE_STORE: cannot use s3:\/\/gramian-test\/gramian\/images at http:\/\/127\.0\.0\.1:\d+ .*the endpoint is unreachable .*check AWS_ENDPOINT_URL/,
    );
    expect(await startFails(s3Env({ IMAGE_STORE: 's3://no-such-bucket/images' }))).toMatch(
      /IMAGE_STORE: cannot use s3:\/\/no-such-bucket\/images .*the bucket does not exist/,
    );
    expect(await startFails(s3Env({ AWS_ACCESS_KEY_ID: 'NOT-A-KEY' }))).toMatch(
      /access denied: check AWS_ACCESS_KEY_ID/,
    );
  });
});
