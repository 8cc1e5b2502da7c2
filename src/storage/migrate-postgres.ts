// Applies prisma/postgres/migrations to a PostgreSQL database on server start, keeping Prisma's own bookkeeping
// (`_prisma_migrations`, as Prisma's PostgreSQL connector defines it) so that `prisma migrate deploy` and
// `migrate status` run later against the same database agree with what was done here. Several nodes may start at
// once: the whole apply runs under the advisory lock `prisma migrate deploy` itself takes, so one node applies and the
// others then find nothing left to do.
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import {
  checkHistory,
  MigrationError,
  readMigrationFolders,
  type MigrationFolder,
  type MigrationRow,
} from './migrate.js';

export const defaultPostgresMigrationsDir = fileURLToPath(new URL('../../prisma/postgres/migrations', import.meta.url));

/** The key Prisma's schema engine locks while it migrates PostgreSQL (`pg_advisory_lock(72707369)`). */
export const MIGRATION_LOCK_KEY = 72707369;

/** Prisma's definition for PostgreSQL, verbatim (schema engine, sql-schema-connector). */
const createMigrationsTableSql = `CREATE TABLE _prisma_migrations (
    id                      VARCHAR(36) PRIMARY KEY NOT NULL,
    checksum                VARCHAR(64) NOT NULL,
    finished_at             TIMESTAMPTZ,
    migration_name          VARCHAR(255) NOT NULL,
    logs                    TEXT,
    rolled_back_at          TIMESTAMPTZ,
    started_at              TIMESTAMPTZ NOT NULL DEFAULT now(),
    applied_steps_count     INTEGER NOT NULL DEFAULT 0
);`;

/** The tables of the schema the connection works in, as Prisma counts them to refuse a database without history. */
async function tablesInSchema(client: pg.ClientBase): Promise<string[]> {
  const result = await client.query<{ name: string }>(
    'SELECT table_name AS name FROM information_schema.tables ' +
      "WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' ORDER BY table_name",
  );
  return result.rows.map((row) => row.name);
}

/** Creates `_prisma_migrations` when missing, refusing (as Prisma does) a database that has tables but no history. */
async function ensureMigrationsTable(client: pg.ClientBase): Promise<void> {
  const tables = await tablesInSchema(client);
  if (tables.includes('_prisma_migrations')) return;
  if (tables.length > 0) {
    throw new MigrationError(
      'not-empty',
      undefined,
      `The database has tables (${tables.join(', ')}) but no migration history (_prisma_migrations), so the ` +
        'migrations cannot be applied to it. Baseline it with `npx prisma migrate resolve --applied <migration> ' +
        '--config prisma/postgres/prisma.config.ts` or start from an empty database.',
    );
  }
  await client.query(createMigrationsTableSql);
}

/** The rows that count, as Prisma reads them: rolled-back attempts are only an audit trail. */
async function readActiveRows(client: pg.ClientBase): Promise<MigrationRow[]> {
  const result = await client.query<MigrationRow>(
    'SELECT migration_name, checksum, finished_at, rolled_back_at, started_at, logs FROM _prisma_migrations ' +
      'WHERE rolled_back_at IS NULL ORDER BY started_at ASC',
  );
  return result.rows;
}

/**
 * Runs the script and records it in one transaction (PostgreSQL's DDL is transactional): a failure leaves neither
 * the script's changes nor a row. The script goes as one simple query, as Prisma sends it.
 */
async function applyMigration(client: pg.ClientBase, folder: MigrationFolder): Promise<void> {
  await client.query('BEGIN');
  try {
    const started = await client.query<{ at: Date }>('SELECT clock_timestamp() AS at');
    try {
      await client.query(folder.script);
    } catch (error) {
      throw new MigrationError(
        'apply',
        folder.name,
        `Migration \`${folder.name}\` failed and was rolled back: ${(error as Error).message}`,
        { cause: error },
      );
    }
    await client.query(
      'INSERT INTO _prisma_migrations (id, checksum, started_at, finished_at, migration_name, applied_steps_count) ' +
        'VALUES ($1, $2, $3, clock_timestamp(), $4, 1)',
      [randomUUID(), folder.checksum, started.rows[0]!.at, folder.name],
    );
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  }
}

/**
 * Applies the migrations in `migrationsDir` that the database has not applied yet, each in its own transaction, and
 * returns their names. Holds the migration advisory lock for the whole apply, on a connection of its own.
 */
export async function migratePostgresDatabase(
  databaseUrl: string,
  migrationsDir: string = defaultPostgresMigrationsDir,
): Promise<{ applied: string[] }> {
  const folders = readMigrationFolders(migrationsDir);
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_KEY]);
    try {
      await ensureMigrationsTable(client);
      const rows = await readActiveRows(client);
      checkHistory(rows, folders);
      const applied: string[] = [];
      for (const folder of folders) {
        if (rows.some((row) => row.migration_name === folder.name)) continue;
        await applyMigration(client, folder);
        applied.push(folder.name);
      }
      return { applied };
    } finally {
      await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY]).catch(() => undefined);
    }
  } finally {
    await client.end();
  }
}
