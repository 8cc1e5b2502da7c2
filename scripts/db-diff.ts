// Creates the next migration folder from prisma/schema.prisma, as `prisma migrate dev --create-only` would, without
// the native schema engine binary (which cannot be downloaded offline): the same engine runs here as WebAssembly,
// replaying the existing migrations into an in-memory SQLite shadow database and diffing that against the schema.
// Unlike `migrate dev` it does not warn about data loss (dropped columns or tables): read the SQL before committing.
// With `--provider postgresql` it does the same for prisma/postgres/ (schema.prisma and migrations), replaying into
// a shadow database that @prisma/adapter-pg creates and drops on the PostgreSQL server of `--database` (default
// $SHADOW_DATABASE_URL, else postgresql://postgres@127.0.0.1:5432/postgres).
//
//   node --import tsx scripts/db-diff.ts --name <migration_name> [--provider postgresql]
//
// Prints the new folder, or "no changes" when the migrations already produce the schema.
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { PrismaBetterSqlite3 } from '@prisma/adapter-better-sqlite3';
import { PrismaPg } from '@prisma/adapter-pg';
import { bindMigrationAwareSqlAdapterFactory, type SqlDriverAdapter } from '@prisma/driver-adapter-utils';
import pg, { type PoolConfig } from 'pg';
import * as engineBindings from '@prisma/schema-engine-wasm/schema_engine_bg';
import type { MigrationList, SchemaEngine } from '@prisma/schema-engine-wasm/schema_engine_bg';
import { defaultPostgresMigrationsDir } from '../src/storage/migrate-postgres.js';
import { defaultMigrationsDir } from '../src/storage/migrate.js';

export const defaultSchemaFile = fileURLToPath(new URL('../prisma/schema.prisma', import.meta.url));
export const defaultPostgresSchemaFile = fileURLToPath(new URL('../prisma/postgres/schema.prisma', import.meta.url));

export type Provider = 'sqlite' | 'postgresql';

/** Where the PostgreSQL shadow databases are created (and dropped) when no URL is given. */
export const defaultPostgresServerUrl =
  process.env.SHADOW_DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres';

const isPostgresUrl = (url: string) => /^postgres(ql)?:\/\//.test(url);

const lockfileName = 'migration_lock.toml';
const noFilters = { externalTables: [], externalEnums: [] };

/** The parts of the wasm-bindgen glue that its typings leave out. */
interface WasmBindgenGlue {
  __wbg_set_wasm(exports: WebAssembly.Exports): void;
}

let engineModuleReady: Promise<void> | undefined;

/**
 * The package's own entry imports the .wasm file as an ES module, which Node 20 only allows behind
 * --experimental-wasm-modules; instantiating it by hand against the JS glue avoids the flag.
 */
function loadEngineModule(): Promise<void> {
  engineModuleReady ??= (async () => {
    const glueUrl = import.meta.resolve('@prisma/schema-engine-wasm/schema_engine_bg');
    const wasmBytes = await readFile(new URL('schema_engine_bg.wasm', glueUrl));
    const { instance } = await WebAssembly.instantiate(wasmBytes, {
      './schema_engine_bg.js': engineBindings as unknown as WebAssembly.ModuleImports,
    });
    (engineBindings as unknown as WasmBindgenGlue).__wbg_set_wasm(instance.exports);
    (instance.exports.__wbindgen_start as () => void)();
  })();
  return engineModuleReady;
}

/**
 * The engine replays each migration.sql through `executeRaw`, which better-sqlite3 refuses when the SQL holds more
 * than one statement (a RangeError, thrown before anything runs); such parameterless scripts go through
 * `executeScript` instead.
 */
function acceptMultiStatementScripts(adapter: SqlDriverAdapter): SqlDriverAdapter {
  const executeRaw = adapter.executeRaw.bind(adapter);
  adapter.executeRaw = async (query) => {
    try {
      return await executeRaw(query);
    } catch (error) {
      if (!(error instanceof RangeError) || query.args.length > 0) throw error;
      await adapter.executeScript(query.sql);
      return 0;
    }
  };
  return adapter;
}

/**
 * The URL's parts as pg settings. The adapter makes its shadow database's pool from the main one's settings with
 * another `database`, which pg ignores beside a `connectionString` (the URL's database wins): the engine would replay
 * the migrations into the main database instead.
 */
function postgresConfig(databaseUrl: string): PoolConfig {
  const url = new URL(databaseUrl);
  return {
    host: decodeURIComponent(url.hostname) || 'localhost',
    port: url.port ? Number(url.port) : 5432,
    user: decodeURIComponent(url.username) || undefined,
    password: url.password ? decodeURIComponent(url.password) : undefined,
    database: decodeURIComponent(url.pathname.slice(1)) || undefined,
  };
}

/**
 * The engine reads the catalogue (pg_constraint.contype and the like) in columns of PostgreSQL's one-byte type "char",
 * which the adapter refuses to map ("Column type 'char' could not be deserialized"); pg reads it as a string
 * anyway, so this pool reports such columns as text.
 */
function postgresAdapterFactory(config: PoolConfig): PrismaPg {
  const pool = new pg.Pool(config);
  const query = pool.query.bind(pool) as (...args: unknown[]) => Promise<pg.QueryResult | pg.QueryResult[]>;
  const charOid = 18;
  const textOid = 25;
  (pool as { query: unknown }).query = async (...args: unknown[]) => {
    const result = await query(...args);
    for (const { fields } of Array.isArray(result) ? result : [result]) {
      for (const field of fields ?? []) if (field.dataTypeID === charOid) field.dataTypeID = textOid;
    }
    return result;
  };
  return new PrismaPg(pool, { disposeExternalPool: true });
}

/**
 * A fresh database on the server of `databaseUrl`, dropped when the engine disposes of it. The adapter's own
 * connectToShadowDb cannot be used: its pool connects to the main database (see postgresConfig), and it drops the
 * shadow database before closing its pool, which PostgreSQL refuses while that pool's connection is open.
 */
async function connectToPostgresShadowDb(databaseUrl: string): Promise<SqlDriverAdapter> {
  const config = postgresConfig(databaseUrl);
  const server = await postgresAdapterFactory(config).connect();
  const name = `gramian_shadow_${randomUUID().replaceAll('-', '')}`;
  try {
    await server.executeScript(`CREATE DATABASE "${name}"`);
    const shadow = await postgresAdapterFactory({ ...config, database: name }).connect();
    const disposeShadow = shadow.dispose.bind(shadow);
    shadow.dispose = async () => {
      try {
        await disposeShadow();
        await server.executeScript(`DROP DATABASE IF EXISTS "${name}"`);
      } finally {
        await server.dispose();
      }
    };
    return shadow;
  } catch (error) {
    await server.dispose();
    throw error;
  }
}

export interface SchemaEngineSession {
  /** Runs engine commands; driver errors, which the engine only names "External error id#N", are spelled out. */
  run<T>(command: (engine: SchemaEngine) => Promise<T>): Promise<T>;
  /** Frees the engine and closes its connections, which freeing alone leaves open (and possibly locked). */
  close(): Promise<void>;
}

/**
 * A schema engine for the given schema. `databaseUrl` is the database it treats as the main one. For SQLite the
 * shadow database is always a fresh in-memory database; for a postgresql:// URL, a fresh database on the same server
 * that the adapter drops when the engine is done with it.
 */
export async function openSchemaEngine(schemaFile: string, databaseUrl = ':memory:'): Promise<SchemaEngineSession> {
  await loadEngineModule();
  const driver = isPostgresUrl(databaseUrl)
    ? postgresAdapterFactory(postgresConfig(databaseUrl))
    : new PrismaBetterSqlite3({ url: databaseUrl });
  const connections: SqlDriverAdapter[] = [];
  const track = (adapter: SqlDriverAdapter) => {
    // The engine disposes of the shadow database itself, and PostgreSQL's shadow adapter drops its database when
    // disposed: a second drop would fail, so each connection is disposed of once.
    const dispose = adapter.dispose.bind(adapter);
    let disposed: Promise<void> | undefined;
    adapter.dispose = () => (disposed ??= dispose());
    connections.push(adapter);
    return acceptMultiStatementScripts(adapter);
  };
  const adapterFactory = bindMigrationAwareSqlAdapterFactory({
    provider: driver.provider,
    adapterName: driver.adapterName,
    connect: async () => track(await driver.connect()),
    connectToShadowDb: async () =>
      track(
        driver instanceof PrismaPg ? await connectToPostgresShadowDb(databaseUrl) : await driver.connectToShadowDb(),
      ),
  });
  // The engine reports progress as JSON log lines; the CLI only shows them with DEBUG, and so do we.
  const onLog = (line: string) => {
    if (process.env.DEBUG) console.error(line);
  };
  const schema = await readFile(schemaFile, 'utf8');
  const engine = await engineBindings.SchemaEngine.new({ datamodels: [[schemaFile, schema]] }, onLog, adapterFactory);
  return {
    async run(command) {
      try {
        return await command(engine);
      } catch (error) {
        const driverErrorId = /External error id#(\d+)/.exec(String(error))?.[1];
        const driverError = driverErrorId && adapterFactory.errorRegistry.consumeError(Number(driverErrorId))?.error;
        if (driverError) {
          const driverText = driverError instanceof Error ? String(driverError) : JSON.stringify(driverError);
          throw new Error(`${String(error)}\nDriver error: ${driverText}`, { cause: error });
        }
        throw error;
      }
    },
    async close() {
      engine.free();
      await Promise.all(connections.map((connection) => connection.dispose()));
    },
  };
}

/** The migrations folder as the Prisma CLI hands it to the engine: every subfolder's migration.sql, by name. */
export async function readMigrationList(migrationsDir: string): Promise<MigrationList> {
  const lockfileContent = await readFile(path.join(migrationsDir, lockfileName), 'utf8').catch(() => null);
  const entries = await readdir(migrationsDir, { withFileTypes: true }).catch(() => []);
  const migrationDirectories = await Promise.all(
    entries
      .filter((entry) => entry.isDirectory())
      .map(async (entry) => ({
        path: entry.name,
        migrationFile: {
          path: 'migration.sql',
          content: await readFile(path.join(migrationsDir, entry.name, 'migration.sql'), 'utf8').then(
            (value) => ({ tag: 'ok' as const, value }),
            (error: Error) => ({ tag: 'error' as const, value: error.message }),
          ),
        },
      })),
  );
  migrationDirectories.sort((a, b) => a.path.localeCompare(b.path));
  return {
    baseDir: migrationsDir,
    lockfile: { path: lockfileName, content: lockfileContent },
    shadowDbInitScript: '',
    migrationDirectories,
  };
}

export interface PlannedMigration {
  /** `<UTC timestamp>_<slug>`, as `prisma migrate dev` names migration folders. */
  directoryName: string;
  script: string;
}

/**
 * The migration that brings the existing migrations up to the schema, or null when they already match.
 * It is the engine's diff from the migrations (replayed in a shadow database) to the schema's datamodel: the same
 * SQL `migrate dev` writes. (`createMigration` itself cannot reach a SQLite shadow database in the wasm engine.)
 */
export async function planMigration(options: {
  name: string;
  provider?: Provider;
  schemaFile?: string;
  migrationsDir?: string;
  /** PostgreSQL: the server the shadow database is created on (defaultPostgresServerUrl). */
  databaseUrl?: string;
}): Promise<PlannedMigration | null> {
  const directoryName = `${migrationTimestamp(new Date())}_${migrationSlug(options.name)}`;
  const postgres = options.provider === 'postgresql';
  const schemaFile = options.schemaFile ?? (postgres ? defaultPostgresSchemaFile : defaultSchemaFile);
  const schema = await readFile(schemaFile, 'utf8');
  const migrations = await readMigrationList(
    options.migrationsDir ?? (postgres ? defaultPostgresMigrationsDir : defaultMigrationsDir),
  );
  const engine = await openSchemaEngine(
    schemaFile,
    postgres ? (options.databaseUrl ?? defaultPostgresServerUrl) : options.databaseUrl,
  );
  try {
    const diff = await engine.run((commands) =>
      commands.diff({
        // The engine refuses a migrations folder without its lock file, which the first migration creates.
        from: migrations.migrationDirectories.length > 0 ? { tag: 'migrations', ...migrations } : { tag: 'empty' },
        to: { tag: 'schemaDatamodel', files: [{ path: schemaFile, content: schema }] },
        script: true,
        exitCode: true,
        filters: noFilters,
      }),
    );
    if (diff.exitCode === 0 || !diff.stdout) return null;
    return { directoryName, script: diff.stdout };
  } finally {
    await engine.close();
  }
}

/** `YYYYMMDDHHMMSS` in UTC, the engine's prefix for migration folders. */
function migrationTimestamp(date: Date): string {
  return date.toISOString().replace(/\D/g, '').slice(0, 14);
}

/** The CLI slugifies `--name` (decamelized, lower case, `_` between words, at most 200 characters). */
function migrationSlug(name: string): string {
  const slug = name
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .replace(/([A-Z]{2,})(\d+)/g, '$1 $2')
    .replace(/([a-z\d]+)([A-Z]{2,})/g, '$1 $2')
    .replace(/([a-z\d])([A-Z])/g, '$1 $2')
    .replace(/([A-Z]+)([A-Z][a-rt-z\d]+)/g, '$1 $2')
    .toLowerCase()
    .replace(/[^a-z\d]+/g, '_')
    .replace(/^_+|_+$/g, '')
    .slice(0, 200);
  if (!slug) throw new Error(`"${name}" does not make a migration name`);
  return slug;
}

/** Writes the migration folder and the lock file byte for byte as the Prisma CLI does; returns the folder. */
export async function writeMigration(
  migrationsDir: string,
  migration: PlannedMigration,
  provider: Provider = 'sqlite',
): Promise<string> {
  const directory = path.join(migrationsDir, migration.directoryName);
  if (existsSync(directory)) throw new Error(`The migration directory already exists at ${directory}`);
  await mkdir(directory, { recursive: true });
  await writeFile(path.join(directory, 'migration.sql'), migration.script, 'utf8');
  const lockfile =
    '# Please do not edit this file manually\n' +
    '# It should be added in your version-control system (e.g., Git)\n' +
    `provider = "${provider}"\n`;
  await writeFile(path.join(migrationsDir, lockfileName), lockfile, 'utf8');
  return directory;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      name: { type: 'string' },
      provider: { type: 'string', default: 'sqlite' },
      schema: { type: 'string' },
      migrations: { type: 'string' },
      database: { type: 'string' },
    },
  });
  const usage =
    'usage: node --import tsx scripts/db-diff.ts --name <migration_name> [--provider sqlite|postgresql] ' +
    '[--schema <file>] [--migrations <dir>] [--database <postgresql://… server for the shadow database>]';
  if (!values.name) throw new Error(usage);
  if (values.provider !== 'sqlite' && values.provider !== 'postgresql') throw new Error(usage);
  const provider: Provider = values.provider;
  const postgres = provider === 'postgresql';
  const migrationsDir = path.resolve(
    values.migrations ?? (postgres ? defaultPostgresMigrationsDir : defaultMigrationsDir),
  );
  const migration = await planMigration({
    name: values.name,
    provider,
    schemaFile: path.resolve(values.schema ?? (postgres ? defaultPostgresSchemaFile : defaultSchemaFile)),
    migrationsDir,
    ...(values.database ? { databaseUrl: values.database } : {}),
  });
  if (migration === null) {
    console.log('no changes');
    return;
  }
  console.log(await writeMigration(migrationsDir, migration, provider));
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await main();
}
