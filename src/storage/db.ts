// Opens the server's SQLite database: migrates it, then connects the generated Prisma client through better-sqlite3.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { PrismaBetterSqlite3 } from '@prisma/adapter-better-sqlite3';
import { PrismaClient } from './generated/client.ts';
import { migrateDatabase } from './migrate.js';

export type Db = PrismaClient;

export interface OpenDatabase {
  prisma: Db;
  /** Absolute path of the SQLite file. */
  file: string;
  /** Disconnects Prisma; a plain function, so it can be passed around or destructured. */
  close: () => Promise<void>;
}

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

/** Migrates the database (creating it when missing) and connects a Prisma client to it. */
export async function openDatabase(databaseUrl: string): Promise<OpenDatabase> {
  const file = databaseFileFromUrl(databaseUrl);
  await migrateDatabase(file);
  const prisma = new PrismaClient({ adapter: new ServerSqliteAdapterFactory({ url: file, timeout: busyTimeoutMs }) });
  await prisma.$connect();
  return { prisma, file, close: () => prisma.$disconnect() };
}
