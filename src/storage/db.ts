// Opens the server's database: a SQLite file (file:…, the embedded default) through better-sqlite3, or PostgreSQL
// (postgresql://…, shared by the nodes of a cluster) through pg. Migrates it, then connects the generated Prisma
// client of its provider.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { PrismaBetterSqlite3 } from '@prisma/adapter-better-sqlite3';
import { PrismaPg } from '@prisma/adapter-pg';
import { isPostgresUrl } from './database-url.js';
import { PrismaClient } from './generated/client.ts';
import { PrismaClient as PostgresPrismaClient } from './generated-pg/client.ts';
import { migratePostgresDatabase } from './migrate-postgres.js';
import { migrateDatabase } from './migrate.js';

export { isPostgresUrl } from './database-url.js';

/**
 * The client the domain code is written against, whichever the database. Both generated clients come from schemas
 * with the same models, fields and enums (test/storage-schema-drift.test.ts), so they have the same API.
 */
export type Db = PrismaClient;

interface OpenDatabaseBase {
  prisma: Db;
  /** Disconnects Prisma; a plain function, so it can be passed around or destructured. */
  close: () => Promise<void>;
}

export interface OpenSqliteDatabase extends OpenDatabaseBase {
  kind: 'sqlite';
  /** Absolute path of the SQLite file. */
  file: string;
}

export interface OpenPostgresDatabase extends OpenDatabaseBase {
  kind: 'postgresql';
  /** The postgresql:// URL it was opened with, for connections of one's own (the image collector's). */
  url: string;
  file?: undefined;
}

export type OpenDatabase = OpenSqliteDatabase | OpenPostgresDatabase;

/** How long a statement waits for another connection's write lock before failing with SQLITE_BUSY. */
const busyTimeoutMs = 5_000;

/**
 * Per-connection settings for a server: WAL lets readers (GraphQL queries) proceed while a run writes its progress,
 * and with WAL, synchronous=NORMAL is still corruption-safe while sparing an fsync per commit. better-sqlite3 is built
 * with foreign keys on, but the schema's cascades depend on it, so it is said explicitly.
 */
const serverPragmas = 'PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;';

/** The adapter sets no pragmas itself; this one sets them on every connection it opens, reconnects included. */
class ServerSqliteAdapterFactory extends PrismaBetterSqlite3 {
  override async connect() {
    const adapter = await super.connect();
    await adapter.executeScript(serverPragmas);
    return adapter;
  }
}

/** `file:` URLs (`file:./data/x.db`, `file:///abs/x.db`, query strings ignored) and plain paths; relative to the cwd. */
export function databaseFileFromUrl(databaseUrl: string): string {
  if (databaseUrl.startsWith('file://')) return fileURLToPath(databaseUrl.split('?')[0]!);
  const location = databaseUrl.startsWith('file:') ? databaseUrl.slice('file:'.length).split('?')[0]! : databaseUrl;
  if (location === '' || location === ':memory:') {
    throw new Error(`"${databaseUrl}" is not a database file; the server keeps its data in a SQLite file`);
  }
  return path.resolve(location);
}

/**
 * Migrates the database and connects a Prisma client to it: a SQLite file (created when missing) for `file:` URLs and
 * plain paths, PostgreSQL for postgres:// and postgresql:// URLs (the database must exist).
 */
export async function openDatabase(databaseUrl: string): Promise<OpenDatabase> {
  if (isPostgresUrl(databaseUrl)) return openPostgresDatabase(databaseUrl);
  const file = databaseFileFromUrl(databaseUrl);
  await migrateDatabase(file);
  const prisma = new PrismaClient({ adapter: new ServerSqliteAdapterFactory({ url: file, timeout: busyTimeoutMs }) });
  await prisma.$connect();
  return { kind: 'sqlite', prisma, file, close: () => prisma.$disconnect() };
}

async function openPostgresDatabase(url: string): Promise<OpenPostgresDatabase> {
  if (new URL(url).searchParams.has('schema'))
    throw new Error(`"${url}": the schema parameter is not supported; give the server a database of its own`);
  await migratePostgresDatabase(url);
  const client = new PostgresPrismaClient({ adapter: new PrismaPg({ connectionString: url }) });
  // The one place the two clients meet: generated from schemas with the same models (kept so by the drift test),
  // they differ only in their provider-specific internals, which no domain code reaches.
  const prisma = client as unknown as Db;
  await prisma.$connect();
  return { kind: 'postgresql', prisma, url, close: () => prisma.$disconnect() };
}
