// Gramian on PostgreSQL (DATABASE_URL=postgresql://…): a fresh database per test on the local server
// (test/helpers/postgres.ts). openDatabase migrates it (once, however many nodes start together, with Prisma's own
// bookkeeping), a real server runs a whole GraphQL flow on it, and the image collector keeps its guarantees there.
import { createHash, randomBytes } from 'node:crypto';
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import sharp from 'sharp';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { defaultPostgresSchemaFile, openSchemaEngine, readMigrationList } from '../scripts/db-diff.js';
import { openDatabase, type OpenDatabase } from '../src/storage/db.js';
import { ImageCollector } from '../src/storage/image-collector.js';
import { ImageStore } from '../src/storage/image-store.js';
import { defaultPostgresMigrationsDir, migratePostgresDatabase } from '../src/storage/migrate-postgres.js';
import { MigrationError } from '../src/storage/migrate.js';
import { createTestDatabase, RUN_POSTGRES, type TestDatabase } from './helpers/postgres.js';
import { gql, gqlUpload, startTestServer, until, type TestServer } from './helpers/server.js';
import { readShared, styleImage } from './helpers/shared.js';

const shipped = readdirSync(defaultPostgresMigrationsDir, { withFileTypes: true })
  .filter((entry) => entry.isDirectory())
  .map((entry) => entry.name)
  .sort();
const noFilters = { externalTables: [], externalEnums: [] };

let database: TestDatabase;
let dir: string;
const cleanups: (() => Promise<unknown>)[] = [];

beforeEach(async () => {
  if (!RUN_POSTGRES) return;
  database = await createTestDatabase();
  dir = mkdtempSync(path.join(os.tmpdir(), 'gramian-pg-'));
});
afterEach(async () => {
  if (!RUN_POSTGRES) return;
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  await database.drop();
  rmSync(dir, { recursive: true, force: true });
});

/** A plain connection to the test database, closed after the test. */
async function connect(): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: database.url });
  await client.connect();
  cleanups.push(() => client.end());
  return client;
}

async function open(): Promise<OpenDatabase> {
  const opened = await openDatabase(database.url);
  cleanups.push(() => opened.close());
  return opened;
}

interface MigrationRowSeen {
  migration_name: string;
  checksum: string;
  finished_at: Date | null;
  applied_steps_count: number;
  rolled_back_at: Date | null;
}

async function migrationRows(client: pg.Client): Promise<MigrationRowSeen[]> {
  const result = await client.query<MigrationRowSeen>(
    'SELECT migration_name, checksum, finished_at, applied_steps_count, rolled_back_at FROM _prisma_migrations ' +
      'ORDER BY migration_name',
  );
  return result.rows;
}

const sha256 = (text: string) => createHash('sha256').update(text, 'utf8').digest('hex');

describe.skipIf(!RUN_POSTGRES)('openDatabase on PostgreSQL', () => {
  it("migrates an empty database, keeping Prisma's bookkeeping, and returns a working client", async () => {
    const opened = await open();
    expect(opened.kind).toBe('postgresql');
    expect(opened.file).toBeUndefined();
    const client = await connect();
    const rows = await migrationRows(client);
    expect(rows.map((row) => row.migration_name)).toEqual(shipped);
    for (const row of rows) {
      const script = readFileSync(path.join(defaultPostgresMigrationsDir, row.migration_name, 'migration.sql'), 'utf8');
      expect(row).toMatchObject({ checksum: sha256(script), applied_steps_count: 1, rolled_back_at: null });
      expect(row.finished_at).toBeInstanceOf(Date);
    }
    // The columns as Prisma's PostgreSQL connector makes them.
    const columns = await client.query(
      'SELECT column_name, data_type, is_nullable, character_maximum_length FROM information_schema.columns ' +
        "WHERE table_name = '_prisma_migrations' ORDER BY ordinal_position",
    );
    expect(columns.rows.map((c) => [c.column_name, c.data_type, c.is_nullable, c.character_maximum_length])).toEqual([
      ['id', 'character varying', 'NO', 36],
      ['checksum', 'character varying', 'NO', 64],
      ['finished_at', 'timestamp with time zone', 'YES', null],
      ['migration_name', 'character varying', 'NO', 255],
      ['logs', 'text', 'YES', null],
      ['rolled_back_at', 'timestamp with time zone', 'YES', null],
      ['started_at', 'timestamp with time zone', 'NO', null],
      ['applied_steps_count', 'integer', 'NO', null],
    ]);

    // The client writes and reads through PostgreSQL: a row written with Prisma is there for a plain connection.
    const image = await opened.prisma.image.create({
      data: { id: 'a'.repeat(64), mime: 'image/png', width: 4, height: 3, bytes: 12 },
    });
    const style = await opened.prisma.style.create({
      data: { name: 'Tags', owner: 'local', imageId: image.id, tags: ['oil', 'night'] },
    });
    expect((await client.query('SELECT "tags" FROM "Style" WHERE "id" = $1', [style.id])).rows).toEqual([
      { tags: ['oil', 'night'] },
    ]);
    expect(await opened.prisma.style.findUniqueOrThrow({ where: { id: style.id } })).toMatchObject({
      tags: ['oil', 'night'],
      createdAt: expect.any(Date),
    });
  });

  it('applies each migration exactly once when several nodes open an empty database at once', async () => {
    const opened = await Promise.all([open(), open(), open(), open()]);
    expect(opened.map((db) => db.kind)).toEqual(['postgresql', 'postgresql', 'postgresql', 'postgresql']);
    const client = await connect();
    const counts = await client.query<{ migration_name: string; count: string }>(
      'SELECT migration_name, COUNT(*) AS count FROM _prisma_migrations GROUP BY migration_name ORDER BY 1',
    );
    expect(counts.rows).toEqual(shipped.map((name) => ({ migration_name: name, count: '1' })));
    // A later start finds nothing to do.
    expect(await migratePostgresDatabase(database.url)).toEqual({ applied: [] });
    expect(await migrationRows(client)).toHaveLength(shipped.length);
  });

  it('refuses a migration modified after it was applied, a failed one and a database without history', async () => {
    const migrationsDir = path.join(dir, 'migrations');
    cpSync(defaultPostgresMigrationsDir, migrationsDir, { recursive: true });
    expect(await migratePostgresDatabase(database.url, migrationsDir)).toEqual({ applied: shipped });

    const first = path.join(migrationsDir, shipped[0]!, 'migration.sql');
    const original = readFileSync(first, 'utf8');
    writeFileSync(first, `${original}\n-- changed after it was applied\n`);
    const modified = await migratePostgresDatabase(database.url, migrationsDir).catch((error: unknown) => error);
    expect(modified).toBeInstanceOf(MigrationError);
    expect(modified).toMatchObject({ kind: 'modified', migrationName: shipped[0] });
    // Line endings changed by git on checkout are not a change.
    writeFileSync(first, original.replaceAll('\n', '\r\n'));
    expect(await migratePostgresDatabase(database.url, migrationsDir)).toEqual({ applied: [] });
    writeFileSync(first, original);

    // A later migration that fails is rolled back whole: nothing of it, and no row.
    const broken = path.join(migrationsDir, '29990101000000_broken');
    cpSync(path.join(migrationsDir, shipped[0]!), broken, { recursive: true });
    writeFileSync(
      path.join(broken, 'migration.sql'),
      'CREATE TABLE "Half" ("id" TEXT);\nSELECT * FROM "NoSuchTable";\n',
    );
    const failing = await migratePostgresDatabase(database.url, migrationsDir).catch((error: unknown) => error);
    expect(failing).toMatchObject({ name: 'MigrationError', kind: 'apply', migrationName: '29990101000000_broken' });
    const client = await connect();
    expect((await client.query('SELECT to_regclass(\'"Half"\') AS half')).rows).toEqual([{ half: null }]);
    expect(await migrationRows(client)).toHaveLength(shipped.length);
    rmSync(broken, { recursive: true });

    // A row left by a failed `prisma migrate deploy` (started, never finished) stops the start until resolved.
    await client.query('INSERT INTO _prisma_migrations (id, checksum, migration_name, logs) VALUES ($1, $2, $3, $4)', [
      'b'.repeat(36),
      'c'.repeat(64),
      '29990101000001_half_done',
      'ERROR: out of disk',
    ]);
    const failed = await migratePostgresDatabase(database.url, migrationsDir).catch((error: unknown) => error);
    expect(failed).toMatchObject({ name: 'MigrationError', kind: 'failed', migrationName: '29990101000001_half_done' });
    expect((failed as Error).message).toContain('out of disk');

    // Tables but no history: refused rather than applied over them.
    const other = await createTestDatabase();
    try {
      const otherClient = new pg.Client({ connectionString: other.url });
      await otherClient.connect();
      await otherClient.query('CREATE TABLE "Mine" ("id" TEXT)');
      await otherClient.end();
      await expect(migratePostgresDatabase(other.url)).rejects.toMatchObject({ kind: 'not-empty' });
    } finally {
      await other.drop();
    }
  });

  it("agrees with Prisma's schema engine (migrate status, migrate deploy) in both directions", async () => {
    const migrations = await readMigrationList(defaultPostgresMigrationsDir);
    // What this module applied, the engine sees as applied and unchanged.
    await migratePostgresDatabase(database.url);
    const engine = await openSchemaEngine(defaultPostgresSchemaFile, database.url);
    try {
      const diagnosis = await engine.run((commands) =>
        commands.diagnoseMigrationHistory({
          migrationsList: migrations,
          optInToShadowDatabase: false,
          filters: noFilters,
        }),
      );
      expect(diagnosis).toEqual({
        editedMigrationNames: [],
        failedMigrationNames: [],
        hasMigrationsTable: true,
        history: null,
      });
      const deployed = await engine.run((commands) =>
        commands.applyMigrations({ migrationsList: migrations, filters: noFilters }),
      );
      expect(deployed.appliedMigrationNames).toEqual([]);
    } finally {
      await engine.close();
    }

    // What the engine applied, this module sees as applied.
    const other = await createTestDatabase();
    try {
      const deployer = await openSchemaEngine(defaultPostgresSchemaFile, other.url);
      try {
        const deployed = await deployer.run((commands) =>
          commands.applyMigrations({ migrationsList: migrations, filters: noFilters }),
        );
        expect(deployed.appliedMigrationNames).toEqual(shipped);
      } finally {
        await deployer.close();
      }
      expect(await migratePostgresDatabase(other.url)).toEqual({ applied: [] });
    } finally {
      await other.drop();
    }
  });
});

const RUN = /* GraphQL */ `
  query ($id: ID!) {
    run(id: $id) {
      status
      lastStep
      steps {
        step
      }
      result {
        sha256
      }
      error {
        message
      }
    }
  }
`;

describe.skipIf(!RUN_POSTGRES)('a server on PostgreSQL', () => {
  let server: TestServer | undefined;
  afterEach(async () => {
    await server?.stop();
    server = undefined;
  });

  it('serves a whole flow: style, preset, a Gatys run to SUCCEEDED, the runs list, delete', async () => {
    server = await startTestServer({ DATABASE_URL: database.url, GC_INTERVAL_SECONDS: '0' });
    expect(server.services.config.databaseUrl).toBe(database.url);

    const uploaded = await gqlUpload(
      server.url,
      `mutation ($input: UploadStyleInput!) {
        uploadStyle(input: $input) { __typename ... on Style { id image { id sha256 } } ... on Error { message } }
      }`,
      { input: { name: 'Scream', image: null } },
      { 'input.image': { bytes: await readShared(styleImage('the_scream.jpg')) } },
    );
    expect(uploaded.errors).toBeUndefined();
    expect(uploaded.data!.uploadStyle.__typename).toBe('Style');
    const style = uploaded.data!.uploadStyle;

    const preset = await gql(
      server.url,
      `mutation ($input: CreatePresetInput!) {
        createPreset(input: $input) { __typename ... on Preset { id } ... on Error { message } }
      }`,
      { input: { name: 'Tiny', params: { size: 32, steps: 3 } } },
    );
    expect(preset.data!.createPreset.__typename).toBe('Preset');

    const started = await gql(
      server.url,
      `mutation ($input: StartTransferInput!) {
        startTransfer(input: $input) { __typename ... on Run { id } ... on Error { message } }
      }`,
      {
        input: {
          contentImageId: style.image.id,
          presetId: preset.data!.createPreset.id,
          styles: [{ styleId: style.id }],
        },
      },
    );
    expect(started.data!.startTransfer.__typename).toBe('Run');
    const runId = started.data!.startTransfer.id as string;
    const finished = await until(
      async () => {
        const answer = await gql(server!.url, RUN, { id: runId });
        expect(answer.errors).toBeUndefined();
        return answer.data!.run;
      },
      (run) => ['SUCCEEDED', 'FAILED', 'CANCELED'].includes(run.status),
      'the run to finish',
    );
    expect(finished).toMatchObject({
      status: 'SUCCEEDED',
      lastStep: 3,
      steps: [{ step: 1 }, { step: 2 }, { step: 3 }],
    });
    expect(finished.result.sha256).toMatch(/^[0-9a-f]{64}$/);

    // Stored in PostgreSQL itself.
    const client = await connect();
    const stored = await client.query('SELECT "status", "lastStep" FROM "Run"');
    expect(stored.rows).toEqual([{ status: 'SUCCEEDED', lastStep: 3 }]);
    expect((await client.query('SELECT COUNT(*)::int AS n FROM "RunStep"')).rows).toEqual([{ n: 3 }]);

    const list = await gql(server.url, '{ runs(first: 10) { totalCount edges { node { id status } } } }');
    expect(list.data!.runs).toEqual({ totalCount: 1, edges: [{ node: { id: runId, status: 'SUCCEEDED' } }] });

    const deleted = await gql(server.url, 'mutation ($id: ID!) { deleteRun(id: $id) { __typename } }', { id: runId });
    expect(deleted.errors).toBeUndefined();
    expect(deleted.data!.deleteRun.__typename).toBe('DeletedRun');
    expect((await gql(server.url, '{ runs(first: 10) { totalCount } }')).data!.runs.totalCount).toBe(0);
    expect((await client.query('SELECT COUNT(*)::int AS n FROM "Run"')).rows).toEqual([{ n: 0 }]);
  });
});

/** A distinct small PNG on every call. */
function png(size = 8): Promise<Buffer> {
  return sharp(randomBytes(size * size * 3), { raw: { width: size, height: size, channels: 3 } })
    .png()
    .toBuffer();
}

describe.skipIf(!RUN_POSTGRES)('the image collector on PostgreSQL', () => {
  async function setUp() {
    const opened = await open();
    const images = new ImageStore(opened.prisma, path.join(dir, 'images'), { maxBytes: 1e6, maxPixels: 1e6 });
    await images.blobs.open();
    const collector = await ImageCollector.open(opened, images);
    cleanups.push(() => collector.close());
    const store = async (owner = 'local') => (await images.save(await images.check(await png(), 'image'), owner)).id;
    const makeOld = (ids: string[]) =>
      opened.prisma.image.updateMany({
        where: { id: { in: ids } },
        data: { createdAt: new Date(Date.now() - 2 * 86_400_000) },
      });
    return { prisma: opened.prisma, images, collector, store, makeOld };
  }
  const dayAgo = () => new Date(Date.now() - 86_400_000);
  /** Until a connection to the test database waits for a lock (the collection, held up by the open transaction). */
  async function waitingForLock(): Promise<void> {
    const watcher = await connect();
    await until(
      async () =>
        (
          await watcher.query<{ n: number }>(
            'SELECT COUNT(*)::int AS n FROM pg_stat_activity ' +
              "WHERE datname = current_database() AND wait_event_type = 'Lock'",
          )
        ).rows[0]!.n,
      (waiting) => waiting > 0,
      'the collection to wait for the writer',
    );
  }

  it('finds every column that names an image in the database’s own foreign keys', async () => {
    const { collector } = await setUp();
    expect(collector.references).toEqual([
      { table: 'Run', column: 'checkpointImageId' },
      { table: 'Run', column: 'contentImageId' },
      { table: 'Run', column: 'resultImageId' },
      { table: 'RunPreview', column: 'imageId' },
      { table: 'RunStyle', column: 'imageId' },
      { table: 'Style', column: 'imageId' },
      { table: 'StyleModel', column: 'previewImageId' },
      { table: 'StyleModel', column: 'styleImageId' },
    ]);
  });

  it('removes exactly the old images nothing references, rows and files, and counts what is stored', async () => {
    const { prisma, images, collector, store, makeOld } = await setUp();
    const [oldFree, oldStyled, oldPreview, fresh] = [await store(), await store(), await store(), await store()];
    await prisma.style.create({ data: { name: 'Kept', owner: 'local', imageId: oldStyled, tags: [] } });
    await prisma.styleModel.create({
      data: {
        name: 'net',
        owner: '',
        architecture: 'engstrom',
        format: 'ml5-checkpoint',
        source: 'catalogue',
        location: 'x',
        previewImageId: oldPreview,
      },
    });
    await makeOld([oldFree, oldStyled, oldPreview]);
    const bytesOf = async (id: string) => (await prisma.image.findUniqueOrThrow({ where: { id } })).bytes;
    const sizes = Object.fromEntries(
      await Promise.all([oldFree, oldStyled, oldPreview, fresh].map(async (id) => [id, await bytesOf(id)])),
    );
    const total = Object.values(sizes).reduce((sum: number, bytes) => sum + (bytes as number), 0);

    const totals = await collector.imageTotals(dayAgo());
    expect(totals).toMatchObject({
      images: 4,
      bytes: total,
      unreferencedImages: 2,
      unreferencedBytes: sizes[oldFree] + sizes[fresh],
      reclaimableImages: 1,
      reclaimableBytes: sizes[oldFree],
    });
    // Two days ago, to the millisecond's rounding.
    expect(Math.abs(totals.oldestUnreferencedAt!.getTime() - (Date.now() - 2 * 86_400_000))).toBeLessThan(60_000);

    expect(await collector.reap({ storedBefore: dayAgo() })).toEqual({
      images: 1,
      bytes: sizes[oldFree],
      ids: [oldFree],
    });
    expect((await prisma.image.findMany({ select: { id: true } })).map((row) => row.id).sort()).toEqual(
      [oldStyled, oldPreview, fresh].sort(),
    );
    for (const id of [oldStyled, oldPreview, fresh]) expect(await images.blobs.has(id)).toBe(true);
    expect(await images.blobs.has(oldFree)).toBe(false);
    expect(await prisma.imageOwner.count({ where: { imageId: oldFree } })).toBe(0);
    // Only the ids asked for.
    expect(await collector.reap({ storedBefore: new Date(Date.now() + 60_000), ids: [oldStyled] })).toMatchObject({
      images: 0,
    });
    expect(await collector.reap({ storedBefore: new Date(Date.now() + 60_000), ids: [fresh] })).toMatchObject({
      ids: [fresh],
    });
  });

  it('waits for a transaction naming an image, then keeps the image (a reference that would be nulled)', async () => {
    const { prisma, images, collector, store, makeOld } = await setUp();
    const [named, other] = [await store(), await store()];
    await makeOld([named, other]);
    // StyleModel.previewImageId is ON DELETE SET NULL: a DELETE that ran beside this transaction would not fail, it
    // would null the preview the transaction is writing and remove the image.
    const writer = await connect();
    await writer.query('BEGIN');
    await writer.query(
      'INSERT INTO "StyleModel" ' +
        '("id", "name", "owner", "architecture", "format", "source", "location", "previewImageId") VALUES ' +
        "('m1', 'net', '', 'engstrom', 'ml5-checkpoint', 'catalogue', 'x', $1)",
      [named],
    );
    const reaping = collector.reap({ storedBefore: dayAgo() });
    await waitingForLock();
    await writer.query('COMMIT');
    expect(await reaping).toMatchObject({ images: 1, ids: [other] });
    expect(await prisma.styleModel.findUniqueOrThrow({ where: { id: 'm1' } })).toMatchObject({ previewImageId: named });
    expect(await images.blobs.has(named)).toBe(true);
    expect(await images.blobs.has(other)).toBe(false);
  });

  it('keeps an image stored again while a collection waits for its lock (the row is fresh when it runs)', async () => {
    const { prisma, images, collector, makeOld } = await setUp();
    const checked = await images.check(await png(), 'image');
    await images.save(checked, 'local');
    await makeOld([checked.sha256]);
    const writer = await connect();
    await writer.query('BEGIN');
    // What ImageStore.save's upsert does to a stored image: renew createdAt, in a transaction still open.
    await writer.query('UPDATE "Image" SET "createdAt" = now() AT TIME ZONE \'UTC\' WHERE "id" = $1', [checked.sha256]);
    const reaping = collector.reap({ storedBefore: dayAgo() });
    await waitingForLock();
    await writer.query('COMMIT');
    expect(await reaping).toMatchObject({ images: 0 });
    expect(await prisma.image.count({ where: { id: checked.sha256 } })).toBe(1);
    expect(await images.blobs.has(checked.sha256)).toBe(true);
  });
});
