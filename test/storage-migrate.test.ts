// The database layer on real SQLite files: migrations as Prisma records them, the generated client on top, and the
// drift check that keeps prisma/schema.prisma and prisma/migrations in step.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, expectTypeOf, it } from 'vitest';
import { openSchemaEngine, planMigration, readMigrationList } from '../scripts/db-diff.js';
import { ACTIVE_STATUSES, isFinished } from '../src/domain/run-status.js';
import { openDatabase } from '../src/storage/db.js';
import { EngineKind, RunStatus } from '../src/storage/generated/enums.ts';
import { MigrationError, defaultMigrationsDir, migrateDatabase } from '../src/storage/migrate.js';

const repoRoot = fileURLToPath(new URL('..', import.meta.url));
const schemaFile = path.join(repoRoot, 'prisma', 'schema.prisma');
/** The migrations the repository ships, in order. */
const shipped = readdirSync(defaultMigrationsDir, { withFileTypes: true })
  .filter((entry) => entry.isDirectory())
  .map((entry) => entry.name)
  .sort();
const initMigration = shipped[0];

/** A later migration as `prisma migrate dev` wrote it: a new column, and a table rebuild under a foreign key. */
const laterMigration = '29990101000000_add_image_label_drop_preset_built_in';
const laterMigrationSql = `-- AlterTable
ALTER TABLE "Image" ADD COLUMN "label" TEXT;

-- RedefineTables
PRAGMA defer_foreign_keys=ON;
PRAGMA foreign_keys=OFF;
CREATE TABLE "new_Preset" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "name" TEXT NOT NULL,
    "owner" TEXT NOT NULL,
    "engine" TEXT NOT NULL,
    "params" JSONB NOT NULL,
    "createdAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" DATETIME NOT NULL
);
INSERT INTO "new_Preset" ("createdAt", "engine", "id", "name", "owner", "params", "updatedAt")
SELECT "createdAt", "engine", "id", "name", "owner", "params", "updatedAt" FROM "Preset";
DROP TABLE "Preset";
ALTER TABLE "new_Preset" RENAME TO "Preset";
CREATE UNIQUE INDEX "Preset_owner_name_key" ON "Preset"("owner", "name");
PRAGMA foreign_keys=ON;
PRAGMA defer_foreign_keys=OFF;
`;

let dir: string;
let migrationsDir: string;
let dbFile: string;

beforeEach(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'gramian-storage-'));
  migrationsDir = path.join(dir, 'migrations');
  cpSync(defaultMigrationsDir, migrationsDir, { recursive: true });
  dbFile = path.join(dir, 'data', 'gramian.db');
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

const sha256 = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');

function migrationRows(file: string) {
  const db = new Database(file, { readonly: true });
  try {
    return db.prepare('SELECT * FROM _prisma_migrations ORDER BY started_at').all() as Array<Record<string, unknown>>;
  } finally {
    db.close();
  }
}

function withSqlite<T>(file: string, use: (db: Database.Database) => T): T {
  const db = new Database(file);
  try {
    return use(db);
  } finally {
    db.close();
  }
}

async function migrationErrorOf(promise: Promise<unknown>): Promise<MigrationError> {
  const error = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(MigrationError);
  return error as MigrationError;
}

describe('migrateDatabase', () => {
  it('creates the file and its folder and records each migration as Prisma does', async () => {
    expect(await migrateDatabase(dbFile, migrationsDir)).toEqual({ applied: shipped });

    const rows = migrationRows(dbFile);
    expect(rows.map((row) => row.migration_name)).toEqual(shipped);
    for (const row of rows) {
      expect(row).toMatchObject({
        checksum: sha256(path.join(migrationsDir, row.migration_name as string, 'migration.sql')),
        rolled_back_at: null,
        logs: null,
        applied_steps_count: 1,
      });
      expect(row.id).toMatch(/^[0-9a-f-]{36}$/);
      // Unix milliseconds, as Prisma's engine writes these columns in SQLite.
      expect(row.finished_at).toBeGreaterThanOrEqual(row.started_at as number);
    }
  });

  it('brings a database from before style models up to date, keeping its runs', async () => {
    const firstOnly = path.join(dir, 'first-only');
    mkdirSync(firstOnly);
    cpSync(path.join(migrationsDir, initMigration!), path.join(firstOnly, initMigration!), { recursive: true });
    await migrateDatabase(dbFile, firstOnly);
    withSqlite(dbFile, (db) => {
      db.exec(`INSERT INTO "Image" ("id", "mime", "width", "height", "bytes") VALUES ('img', 'image/png', 2, 2, 10)`);
      db.exec(
        `INSERT INTO "Run" ("id", "status", "engine", "params", "contentImageId", "totalSteps")
         VALUES ('run', 'SUCCEEDED', 'GATYS', '{}', 'img', 5)`,
      );
    });
    expect(await migrateDatabase(dbFile, migrationsDir)).toEqual({ applied: shipped.slice(1) });
    withSqlite(dbFile, (db) => {
      expect(db.prepare('SELECT "id", "status", "styleModelId" FROM "Run"').all()).toEqual([
        { id: 'run', status: 'SUCCEEDED', styleModelId: null },
      ]);
      expect(db.prepare('SELECT count(*) AS n FROM "StyleModel"').get()).toEqual({ n: 0 });
    });
  });

  it('applies nothing the second time', async () => {
    await migrateDatabase(dbFile, migrationsDir);
    expect(await migrateDatabase(dbFile, migrationsDir)).toEqual({ applied: [] });
    expect(migrationRows(dbFile)).toHaveLength(shipped.length);
  });

  it('brings an older database up to date and keeps its data, children of rebuilt tables included', async () => {
    await migrateDatabase(dbFile, migrationsDir);
    withSqlite(dbFile, (db) =>
      db.exec(`
        INSERT INTO "Image" ("id", "mime", "width", "height", "bytes") VALUES ('img', 'image/png', 4, 3, 120);
        INSERT INTO "Preset" ("id", "name", "owner", "engine", "params", "builtIn", "updatedAt")
          VALUES ('preset', 'Soft', '', 'GATYS', '{"iterations":10}', 1, 0);
        INSERT INTO "Run" ("id", "owner", "status", "engine", "params", "contentImageId", "presetId", "totalSteps")
          VALUES ('run', 'local', 'SUCCEEDED', 'GATYS', '{}', 'img', 'preset', 10);
      `),
    );
    mkdirSync(path.join(migrationsDir, laterMigration));
    writeFileSync(path.join(migrationsDir, laterMigration, 'migration.sql'), laterMigrationSql);

    expect(await migrateDatabase(dbFile, migrationsDir)).toEqual({ applied: [laterMigration] });

    withSqlite(dbFile, (db) => {
      expect(db.prepare('SELECT "id", "label" FROM "Image"').all()).toEqual([{ id: 'img', label: null }]);
      expect(db.prepare('SELECT "id", "name", "params" FROM "Preset"').all()).toEqual([
        { id: 'preset', name: 'Soft', params: '{"iterations":10}' },
      ]);
      // Dropping the old Preset table with foreign keys on would have set this to NULL (onDelete: SetNull).
      expect(db.prepare('SELECT "presetId" FROM "Run"').get()).toEqual({ presetId: 'preset' });
      expect(db.pragma('foreign_key_check')).toEqual([]);
    });
    expect(migrationRows(dbFile).map((row) => row.migration_name)).toEqual([...shipped, laterMigration]);
  });

  it('refuses a migration whose file changed after it was applied, but not over line endings', async () => {
    await migrateDatabase(dbFile, migrationsDir);
    const script = path.join(migrationsDir, initMigration!, 'migration.sql');
    const original = readFileSync(script, 'utf8');

    writeFileSync(script, original.replaceAll('\n', '\r\n'));
    expect(await migrateDatabase(dbFile, migrationsDir)).toEqual({ applied: [] });

    writeFileSync(script, `${original}\n-- an edit\n`);
    const error = await migrationErrorOf(migrateDatabase(dbFile, migrationsDir));
    expect(error.kind).toBe('modified');
    expect(error.migrationName).toBe(initMigration);
    expect(error.message).toContain(initMigration);
  });

  it('refuses a database with a failed migration, and ignores rolled-back attempts', async () => {
    await migrateDatabase(dbFile, migrationsDir);
    withSqlite(dbFile, (db) => db.exec(`UPDATE _prisma_migrations SET finished_at = NULL, logs = 'disk full'`));

    const failed = await migrationErrorOf(migrateDatabase(dbFile, migrationsDir));
    expect(failed.kind).toBe('failed');
    expect(failed.migrationName).toBe(initMigration);
    expect(failed.message).toContain(initMigration);
    expect(failed.message).toContain('disk full');

    // Once resolved as rolled back, the migration is due again; here its tables still exist, so it fails, and the
    // failure leaves neither schema changes nor a row behind.
    withSqlite(dbFile, (db) => db.exec('UPDATE _prisma_migrations SET rolled_back_at = 1'));
    const retried = await migrationErrorOf(migrateDatabase(dbFile, migrationsDir));
    expect(retried.kind).toBe('apply');
    expect(retried.migrationName).toBe(initMigration);
    expect(retried.message).toMatch(/already exists/);
    expect(migrationRows(dbFile)).toHaveLength(shipped.length);
  });

  it('refuses a database that has tables but no migration history', async () => {
    mkdirSync(path.dirname(dbFile));
    withSqlite(dbFile, (db) => db.exec('CREATE TABLE "Image" ("id" TEXT PRIMARY KEY)'));
    const error = await migrationErrorOf(migrateDatabase(dbFile, migrationsDir));
    expect(error.kind).toBe('not-empty');
  });

  it('applies each migration once when two processes start together', async () => {
    mkdirSync(path.join(migrationsDir, laterMigration));
    writeFileSync(path.join(migrationsDir, laterMigration, 'migration.sql'), laterMigrationSql);
    // Both children wait for the same moment after their (unevenly long) start-up, so that they really race.
    const startAt = Date.now() + 1_500;
    const migrateInChild = () =>
      promisify(execFile)(
        process.execPath,
        [
          '--import',
          'tsx',
          '--input-type=module',
          '-e',
          `const { migrateDatabase } = await import(${JSON.stringify(path.join(repoRoot, 'src/storage/migrate.ts'))});
           await new Promise((resolve) => setTimeout(resolve, ${startAt} - Date.now()));
           const { applied } = await migrateDatabase(${JSON.stringify(dbFile)}, ${JSON.stringify(migrationsDir)});
           console.log(JSON.stringify(applied));`,
        ],
        { cwd: repoRoot },
      );
    const results = await Promise.all([migrateInChild(), migrateInChild()]);
    const applied = results.flatMap((result) => JSON.parse(result.stdout) as string[]);
    expect(applied.sort()).toEqual([...shipped, laterMigration]);
    expect(migrationRows(dbFile)).toHaveLength(shipped.length + 1);
  });

  it("agrees with Prisma's schema engine in both directions", async () => {
    const migrations = await readMigrationList(migrationsDir);

    // What this module applied, the engine (as `migrate status` / `migrate deploy`) sees as applied and unchanged.
    await migrateDatabase(dbFile, migrationsDir);
    const engine = await openSchemaEngine(schemaFile, dbFile);
    try {
      const diagnosis = await engine.run((commands) =>
        commands.diagnoseMigrationHistory({
          migrationsList: migrations,
          optInToShadowDatabase: false,
          filters: { externalTables: [], externalEnums: [] },
        }),
      );
      expect(diagnosis).toEqual({
        editedMigrationNames: [],
        failedMigrationNames: [],
        hasMigrationsTable: true,
        history: null,
      });
    } finally {
      await engine.close();
    }

    // What the engine applied, this module sees as applied.
    const deployedFile = path.join(dir, 'deployed.db');
    const deployer = await openSchemaEngine(schemaFile, deployedFile);
    try {
      const deployed = await deployer.run((commands) =>
        commands.applyMigrations({ migrationsList: migrations, filters: { externalTables: [], externalEnums: [] } }),
      );
      expect(deployed.appliedMigrationNames).toEqual(shipped);
    } finally {
      await deployer.close();
    }
    expect(await migrateDatabase(deployedFile, migrationsDir)).toEqual({ applied: [] });
  });
});

describe('openDatabase', () => {
  it('migrates, sets the server pragmas and round-trips every model with its relations', async () => {
    const { prisma, file, close } = await openDatabase(`file:${dbFile}`);
    try {
      expect(file).toBe(dbFile);
      expect(migrationRows(dbFile).map((row) => row.migration_name)).toEqual(shipped);
      expect(await prisma.$queryRawUnsafe('PRAGMA journal_mode')).toEqual([{ journal_mode: 'wal' }]);
      expect(await prisma.$queryRawUnsafe('PRAGMA foreign_keys')).toEqual([{ foreign_keys: 1n }]);

      const content = await prisma.image.create({
        data: { id: 'a'.repeat(64), mime: 'image/png', width: 640, height: 480, bytes: 123_456 },
      });
      const result = await prisma.image.create({
        data: { id: 'b'.repeat(64), mime: 'image/jpeg', width: 320, height: 240, bytes: 9_999 },
      });
      const style = await prisma.style.create({
        data: { name: 'Starry Night', owner: 'local', imageId: content.id, tags: ['oil', 'van gogh', 'night'] },
      });
      const presetParams = { iterations: 300, learningRate: 1.5e-2, layers: ['conv1_1', 'conv2_1'], tv: null };
      const preset = await prisma.preset.create({
        data: { name: 'Quick', owner: 'local', engine: 'GATYS', params: presetParams },
      });
      const startedAt = new Date('2026-01-02T03:04:05.678Z');
      const run = await prisma.run.create({
        data: {
          owner: 'local',
          status: 'RUNNING',
          engine: 'GATYS',
          params: { ...presetParams, seed: 7 },
          contentImageId: content.id,
          presetId: preset.id,
          startedAt,
          totalSteps: 300,
          lastStep: 2,
          contentLoss: 0.125,
          styleLoss: 1234.5678,
          styles: {
            create: [{ position: 0, styleId: style.id, styleName: style.name, imageId: content.id, weight: 0.75 }],
          },
          steps: {
            create: [
              { step: 1, scale: 256, contentLoss: 1.5, styleLoss: 2.25, tvLoss: 1e-7, totalLoss: 3.7500001, ms: 12.5 },
              { step: 2, scale: 256, contentLoss: 1.25, styleLoss: 2, tvLoss: 0, totalLoss: 3.25, ms: 11 },
            ],
          },
          previews: { create: [{ step: 2, imageId: result.id }] },
        },
      });

      const stored = await prisma.run.findUniqueOrThrow({
        where: { id: run.id },
        include: {
          contentImage: true,
          preset: true,
          styles: { include: { style: true } },
          steps: { orderBy: { step: 'asc' } },
          previews: { include: { image: true } },
        },
      });
      expect(stored).toMatchObject({
        status: 'RUNNING',
        params: { ...presetParams, seed: 7 },
        startedAt,
        finishedAt: null,
        checkpointImageId: null,
        lastStep: 2,
        contentLoss: 0.125,
        styleLoss: 1234.5678,
        tvLoss: null,
        contentImage: { id: content.id, width: 640, height: 480, bytes: 123_456 },
        preset: { name: 'Quick', builtIn: false, params: presetParams },
        styles: [
          { position: 0, weight: 0.75, styleName: 'Starry Night', style: { tags: ['oil', 'van gogh', 'night'] } },
        ],
        steps: [
          { step: 1, scale: 256, tvLoss: 1e-7, totalLoss: 3.7500001, ms: 12.5 },
          { step: 2, contentLoss: 1.25, ms: 11 },
        ],
        previews: [{ step: 2, image: { mime: 'image/jpeg' } }],
      });
      expect(stored.queuedAt).toBeInstanceOf(Date);
      expect(Math.abs(stored.queuedAt.getTime() - Date.now())).toBeLessThan(60_000);
      expect(stored.preset!.updatedAt).toBeInstanceOf(Date);

      // Style deleted: the run keeps its style row by name, without the link.
      await prisma.style.delete({ where: { id: style.id } });
      expect(await prisma.runStyle.findMany()).toEqual([
        expect.objectContaining({ runId: run.id, styleId: null, styleName: 'Starry Night' }),
      ]);
      // Preset deleted: the run stays, without the link.
      await prisma.preset.delete({ where: { id: preset.id } });
      expect(await prisma.run.findUniqueOrThrow({ where: { id: run.id } })).toMatchObject({ presetId: null });
      // Images still referenced cannot go (onDelete defaults to Restrict for required relations).
      await expect(prisma.image.delete({ where: { id: content.id } })).rejects.toThrow();
      // Run deleted: its styles, steps and previews go with it.
      await prisma.run.delete({ where: { id: run.id } });
      expect([await prisma.runStyle.count(), await prisma.runStep.count(), await prisma.runPreview.count()]).toEqual([
        0, 0, 0,
      ]);
    } finally {
      await close();
    }
  });

  it('opens a database older than the status and engine enums: every Run and Preset row intact and typed', async () => {
    // The oldest shape of the database (first migration only), holding what the String-column client wrote: every
    // status and engine, and a value in every column, so that a column lost or emptied on the way shows.
    const firstOnly = path.join(dir, 'first-only');
    mkdirSync(firstOnly);
    cpSync(path.join(migrationsDir, initMigration!), path.join(firstOnly, initMigration!), { recursive: true });
    await migrateDatabase(dbFile, firstOnly);
    const oldStatuses = ['QUEUED', 'RUNNING', 'SUCCEEDED', 'FAILED', 'CANCELED'];
    const at = (minute: number) => `2026-01-02T03:${String(minute).padStart(2, '0')}:05.678+00:00`;
    const oldRun = (status: string, index: number) => ({
      id: `run-${index}`,
      status,
      engine: index % 2 ? 'FAST' : 'GATYS',
      params: JSON.stringify({ seed: index, layers: ['conv1_1'] }),
      contentImageId: 'content',
      presetId: index % 2 ? 'preset-fast' : 'preset-gatys',
      queuedAt: at(10 + index),
      startedAt: at(20 + index),
      finishedAt: at(30 + index),
      errorCode: `CODE_${index}`,
      errorMessage: `message ${index}`,
      resultImageId: 'result',
      checkpointImageId: 'checkpoint',
      checkpointStep: 40 + index,
      totalSteps: 100 + index,
      lastStep: 50 + index,
      width: 640 + index,
      height: 480 + index,
      backend: `backend-${index}`,
      contentLoss: 0.125 + index,
      styleLoss: 1234.5678 + index,
      tvLoss: 1e-7 * (index + 1),
      totalLoss: 9.5 + index,
    });
    const oldRuns = oldStatuses.map(oldRun);
    type Row = Record<string, unknown>;
    const readRows = (db: Database.Database) => ({
      presets: db.prepare('SELECT * FROM "Preset" ORDER BY "id"').all() as Row[],
      runs: db.prepare('SELECT * FROM "Run" ORDER BY "id"').all() as Row[],
    });
    const before = withSqlite(dbFile, (db) => {
      db.exec(`
        INSERT INTO "Image" ("id", "mime", "width", "height", "bytes") VALUES
          ('content', 'image/png', 4, 3, 120), ('result', 'image/jpeg', 4, 3, 90),
          ('checkpoint', 'image/png', 4, 3, 100);
        INSERT INTO "Preset" ("id", "name", "engine", "params", "builtIn", "createdAt", "updatedAt") VALUES
          ('preset-fast', 'Mosaic', 'FAST', '{"styleModel":"mosaic"}', 0, '${at(0)}', '${at(1)}'),
          ('preset-gatys', 'Balanced', 'GATYS', '{"size":512}', 1, '${at(2)}', '${at(3)}');
      `);
      const columns = Object.keys(oldRuns[0]!);
      const insertRun = db.prepare(
        `INSERT INTO "Run" (${columns.map((column) => `"${column}"`).join(', ')}) ` +
          `VALUES (${columns.map((column) => `@${column}`).join(', ')})`,
      );
      for (const run of oldRuns) insertRun.run(run);
      return readRows(db);
    });
    expect(before.runs).toEqual(oldRuns);

    const { prisma, close } = await openDatabase(`file:${dbFile}`);
    try {
      expect(migrationRows(dbFile).map((row) => row.migration_name)).toEqual(shipped);
      const runs = await prisma.run.findMany({ orderBy: { id: 'asc' } });
      const presets = await prisma.preset.findMany({ orderBy: { id: 'asc' } });
      expectTypeOf(runs[0]!.status).toEqualTypeOf<RunStatus>();
      expectTypeOf(runs[0]!.engine).toEqualTypeOf<EngineKind>();
      expectTypeOf(presets[0]!.engine).toEqualTypeOf<EngineKind>();

      // The client reads every old value, the TEXT statuses and engines as enum values.
      expect(runs).toMatchObject(
        oldRuns.map((run) => ({
          ...run,
          params: JSON.parse(run.params),
          queuedAt: new Date(run.queuedAt),
          startedAt: new Date(run.startedAt),
          finishedAt: new Date(run.finishedAt),
          styleModelId: null,
        })),
      );
      expect(runs.map((run) => run.status)).toEqual(Object.values(RunStatus));
      expect(runs.filter((run) => isFinished(run.status)).map((run) => run.id)).toEqual(['run-2', 'run-3', 'run-4']);
      expect(await prisma.run.count({ where: { status: { in: [...ACTIVE_STATUSES] } } })).toBe(2);
      expect(await prisma.run.count({ where: { engine: EngineKind.FAST } })).toBe(2);
      expect(presets).toMatchObject([
        {
          id: 'preset-fast',
          name: 'Mosaic',
          engine: EngineKind.FAST,
          params: { styleModel: 'mosaic' },
          builtIn: false,
          updatedAt: new Date(at(1)),
        },
        {
          id: 'preset-gatys',
          name: 'Balanced',
          engine: EngineKind.GATYS,
          params: { size: 512 },
          builtIn: true,
          updatedAt: new Date(at(3)),
        },
      ]);
      // Owners came with the rows: what existed was the local user's, the built-ins everyone's.
      expect(runs.every((run) => run.owner === 'local')).toBe(true);
      expect(presets.map((preset) => [preset.name, preset.owner])).toEqual([
        ['Mosaic', 'local'],
        ['Balanced', ''],
      ]);
      expect(await prisma.imageOwner.findMany({ orderBy: { imageId: 'asc' } })).toMatchObject([
        { imageId: 'checkpoint', owner: 'local' },
        { imageId: 'content', owner: 'local' },
        { imageId: 'result', owner: 'local' },
      ]);
    } finally {
      await close();
    }

    // Stored as before: the same rows, every column they had unchanged (columns added since are left aside).
    const after = withSqlite(dbFile, readRows);
    const asBefore = (rows: Row[], like: Row[]) =>
      rows.map((row) => Object.fromEntries(Object.keys(like[0]!).map((column) => [column, row[column]])));
    expect(asBefore(after.runs, before.runs)).toEqual(before.runs);
    expect(asBefore(after.presets, before.presets)).toEqual(before.presets);
  });

  it('resolves relative file: URLs and plain paths against the working directory', async () => {
    const cwd = process.cwd();
    process.chdir(dir);
    try {
      const viaUrl = await openDatabase('file:./data/gramian.db');
      await viaUrl.close();
      const viaPath = await openDatabase('data/gramian.db');
      await viaPath.close();
      expect([viaUrl.file, viaPath.file]).toEqual([dbFile, dbFile]);
    } finally {
      process.chdir(cwd);
    }
  });
});

describe('scripts/db-diff.ts', () => {
  it('finds nothing to migrate: prisma/migrations produces prisma/schema.prisma exactly', async () => {
    expect(await planMigration({ name: 'drift_check' })).toBeNull();
  });

  it('plans a migration when the schema moves on', async () => {
    const changedSchema = path.join(dir, 'schema.prisma');
    writeFileSync(
      changedSchema,
      readFileSync(schemaFile, 'utf8').replace(/^(\s+mime\s+String)$/m, '$1\n  label String?'),
    );
    const planned = await planMigration({ name: 'addImageLabel', schemaFile: changedSchema, migrationsDir });
    expect(planned?.directoryName).toMatch(/^\d{14}_add_image_label$/);
    expect(planned?.script).toBe('-- AlterTable\nALTER TABLE "Image" ADD COLUMN "label" TEXT;\n');
  });
});
