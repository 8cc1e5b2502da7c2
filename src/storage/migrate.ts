// Applies prisma/migrations to a SQLite file on server start, keeping Prisma's own bookkeeping (`_prisma_migrations`)
// so that `prisma migrate deploy` / `migrate status` run later against the same file agree with what was done here.
import { createHash, randomUUID } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';

export const defaultMigrationsDir = fileURLToPath(new URL('../../prisma/migrations', import.meta.url));

/** How long to wait for another process that holds the write lock (for example while it applies a migration). */
const lockWaitMs = 60_000;

/** Prisma's definition for SQLite, verbatim (schema engine, sql-schema-connector). */
const createMigrationsTableSql = `CREATE TABLE "_prisma_migrations" (
    "id"                    TEXT PRIMARY KEY NOT NULL,
    "checksum"              TEXT NOT NULL,
    "finished_at"           DATETIME,
    "migration_name"        TEXT NOT NULL,
    "logs"                  TEXT,
    "rolled_back_at"        DATETIME,
    "started_at"            DATETIME NOT NULL DEFAULT current_timestamp,
    "applied_steps_count"   INTEGER UNSIGNED NOT NULL DEFAULT 0
)`;

export type MigrationErrorKind =
  /** A row records a migration that started but neither finished nor was rolled back. */
  | 'failed'
  /** An applied migration's migration.sql no longer has the checksum recorded when it was applied. */
  | 'modified'
  /** The database has tables but no migration history, so the first migration cannot be applied to it. */
  | 'not-empty'
  /** Applying the migration failed; its transaction was rolled back and nothing was recorded. */
  | 'apply';

export class MigrationError extends Error {
  override readonly name = 'MigrationError';

  constructor(
    readonly kind: MigrationErrorKind,
    /** The migration at fault; undefined for 'not-empty'. */
    readonly migrationName: string | undefined,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** A migration folder as both migrators read it. */
export interface MigrationFolder {
  name: string;
  script: string;
  checksum: string;
}

/** A `_prisma_migrations` row: SQLite gives timestamps as numbers or text, PostgreSQL as Dates. */
export interface MigrationRow {
  migration_name: string;
  checksum: string;
  finished_at: number | string | Date | null;
  rolled_back_at: number | string | Date | null;
  started_at: number | string | Date;
  logs: string | null;
}

function sha256Hex(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

/**
 * Prisma accepts a recorded checksum for the script as it is, with CRLF turned into LF, or with LF turned into
 * CRLF, because git may change line endings on checkout.
 */
function scriptMatchesChecksum(script: string, checksum: string): boolean {
  return [script, script.replaceAll('\r\n', '\n'), script.replaceAll('\n', '\r\n')].some(
    (variant) => sha256Hex(variant) === checksum,
  );
}

/** Every subfolder's migration.sql, in name order (the timestamp prefix makes that the order of creation). */
export function readMigrationFolders(migrationsDir: string): MigrationFolder[] {
  return readdirSync(migrationsDir, { withFileTypes: true })
    .filter((entry) => entry.isDirectory())
    .map((entry) => entry.name)
    .sort()
    .map((name) => {
      const script = readFileSync(path.join(migrationsDir, name, 'migration.sql'), 'utf8');
      return { name, script, checksum: sha256Hex(script) };
    });
}

/** Prisma stores these timestamps as Unix milliseconds in SQLite (rows written by SQL defaults hold text). */
function describeTimestamp(value: number | string | Date): string {
  if (value instanceof Date) return value.toISOString();
  return typeof value === 'number' ? new Date(value).toISOString() : value;
}

/** Creates `_prisma_migrations` when missing, refusing (as Prisma does) a database that has tables but no history. */
function ensureMigrationsTable(db: Database.Database): void {
  const tables = db
    .prepare<[], { name: string }>("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
    .all()
    .map((table) => table.name);
  if (tables.includes('_prisma_migrations')) return;
  if (tables.length > 0) {
    throw new MigrationError(
      'not-empty',
      undefined,
      `The database has tables (${tables.join(', ')}) but no migration history (_prisma_migrations), so the ` +
        'migrations cannot be applied to it. Baseline it with `npx prisma migrate resolve --applied <migration>` ' +
        'or start from an empty file.',
    );
  }
  db.exec(createMigrationsTableSql);
}

/** The rows that count, as Prisma reads them: rolled-back attempts are only an audit trail. */
function readActiveRows(db: Database.Database): MigrationRow[] {
  return db
    .prepare<[], MigrationRow>(
      'SELECT migration_name, checksum, finished_at, rolled_back_at, started_at, logs FROM _prisma_migrations ' +
        'WHERE rolled_back_at IS NULL ORDER BY started_at ASC',
    )
    .all();
}

/** Refuses a history that Prisma would not continue from, or that no longer matches the migration files. */
export function checkHistory(rows: MigrationRow[], folders: MigrationFolder[]): void {
  const failed = rows.find((row) => row.finished_at === null);
  if (failed) {
    const logs = failed.logs?.trim() ? `:\n${failed.logs.trim()}` : '.';
    throw new MigrationError(
      'failed',
      failed.migration_name,
      `Migration \`${failed.migration_name}\` started at ${describeTimestamp(failed.started_at)} failed${logs}\n` +
        'Repair the database, then mark it with `npx prisma migrate resolve --rolled-back ' +
        `${failed.migration_name}\` (to retry it) or \`--applied ${failed.migration_name}\`.`,
    );
  }
  for (const row of rows) {
    const folder = folders.find((candidate) => candidate.name === row.migration_name);
    if (folder && !scriptMatchesChecksum(folder.script, row.checksum)) {
      throw new MigrationError(
        'modified',
        row.migration_name,
        `Migration \`${row.migration_name}\` was modified after it was applied: its migration.sql has checksum ` +
          `${folder.checksum}, the database recorded ${row.checksum}. Restore the applied version of the file and ` +
          'put further changes in a new migration.',
      );
    }
  }
}

/** Runs the script and records it; throws (rolling the transaction back) when it fails or breaks a foreign key. */
function applyMigration(db: Database.Database, folder: MigrationFolder): void {
  const startedAt = Date.now();
  try {
    db.exec(folder.script);
    const violations = db.prepare('PRAGMA foreign_key_check').all();
    if (violations.length > 0) {
      throw new Error(`it leaves rows that break foreign keys: ${JSON.stringify(violations.slice(0, 5))}`);
    }
  } catch (error) {
    throw new MigrationError(
      'apply',
      folder.name,
      `Migration \`${folder.name}\` failed and was rolled back: ${(error as Error).message}`,
      { cause: error },
    );
  }
  db.prepare(
    'INSERT INTO _prisma_migrations (id, checksum, started_at, finished_at, migration_name, applied_steps_count) ' +
      'VALUES (?, ?, ?, ?, ?, 1)',
  ).run(randomUUID(), folder.checksum, startedAt, Date.now(), folder.name);
}

/**
 * Applies the migrations in `migrationsDir` that the database has not applied yet, each in its own transaction,
 * and returns their names. Creates the file (and its folder) when missing. better-sqlite3 is synchronous: the work
 * runs at once, as in an async function, and any failure is a rejection of the answer.
 */
export function migrateDatabase(
  databaseFile: string,
  migrationsDir: string = defaultMigrationsDir,
): Promise<{ applied: string[] }> {
  return new Promise((resolve) => resolve(applyPendingMigrations(databaseFile, migrationsDir)));
}

function applyPendingMigrations(databaseFile: string, migrationsDir: string): { applied: string[] } {
  const folders = readMigrationFolders(migrationsDir);
  mkdirSync(path.dirname(path.resolve(databaseFile)), { recursive: true });
  const db = new Database(databaseFile, { timeout: lockWaitMs });
  try {
    // Prisma's table rebuilds switch foreign keys off around DROP TABLE, or the drop would cascade into the child
    // tables; that pragma is ignored inside a transaction, so it is switched off for the whole connection instead
    // and applyMigration checks the keys before each commit.
    db.pragma('foreign_keys = OFF');
    // BEGIN IMMEDIATE takes the write lock before reading the history, so that a server starting at the same time
    // waits and then sees what this one applied, instead of applying it twice.
    db.transaction(() => {
      ensureMigrationsTable(db);
      checkHistory(readActiveRows(db), folders);
    }).immediate();

    const applied: string[] = [];
    for (const folder of folders) {
      const appliedNow = db
        .transaction(() => {
          const rows = readActiveRows(db);
          checkHistory(rows, folders);
          if (rows.some((row) => row.migration_name === folder.name)) return false;
          applyMigration(db, folder);
          return true;
        })
        .immediate();
      if (appliedNow) applied.push(folder.name);
    }
    return { applied };
  } finally {
    db.close();
  }
}
