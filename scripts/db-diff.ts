// Creates the next migration folder from prisma/schema.prisma, as `prisma migrate dev --create-only` would, without
// the native schema engine binary (which cannot be downloaded offline): the same engine runs here as WebAssembly,
// replaying the existing migrations into an in-memory SQLite shadow database and diffing that against the schema.
// Unlike `migrate dev` it does not warn about data loss (dropped columns or tables): read the SQL before committing.
//
//   node --import tsx scripts/db-diff.ts --name <migration_name>
//
// Prints the new folder, or "no changes" when the migrations already produce the schema.
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { PrismaBetterSqlite3 } from '@prisma/adapter-better-sqlite3';
import { bindMigrationAwareSqlAdapterFactory, type SqlDriverAdapter } from '@prisma/driver-adapter-utils';
import * as engineBindings from '@prisma/schema-engine-wasm/schema_engine_bg';
import type { MigrationList, SchemaEngine } from '@prisma/schema-engine-wasm/schema_engine_bg';
import { defaultMigrationsDir } from '../src/storage/migrate.js';

export const defaultSchemaFile = fileURLToPath(new URL('../prisma/schema.prisma', import.meta.url));

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

export interface SchemaEngineSession {
  /** Runs engine commands; driver errors, which the engine only names "External error id#N", are spelled out. */
  run<T>(command: (engine: SchemaEngine) => Promise<T>): Promise<T>;
  /** Frees the engine and closes its connections, which freeing alone leaves open (and possibly locked). */
  close(): Promise<void>;
}

/**
 * A schema engine for the given schema. `databaseUrl` is the database it treats as the main one; the shadow database
 * is always a fresh in-memory SQLite database.
 */
export async function openSchemaEngine(schemaFile: string, databaseUrl = ':memory:'): Promise<SchemaEngineSession> {
  await loadEngineModule();
  const sqlite = new PrismaBetterSqlite3({ url: databaseUrl });
  const connections: SqlDriverAdapter[] = [];
  const track = (adapter: SqlDriverAdapter) => {
    connections.push(adapter);
    return acceptMultiStatementScripts(adapter);
  };
  const adapterFactory = bindMigrationAwareSqlAdapterFactory({
    provider: sqlite.provider,
    adapterName: sqlite.adapterName,
    connect: async () => track(await sqlite.connect()),
    connectToShadowDb: async () => track(await sqlite.connectToShadowDb()),
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
  schemaFile?: string;
  migrationsDir?: string;
}): Promise<PlannedMigration | null> {
  const directoryName = `${migrationTimestamp(new Date())}_${migrationSlug(options.name)}`;
  const schemaFile = options.schemaFile ?? defaultSchemaFile;
  const schema = await readFile(schemaFile, 'utf8');
  const migrations = await readMigrationList(options.migrationsDir ?? defaultMigrationsDir);
  const engine = await openSchemaEngine(schemaFile);
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
export async function writeMigration(migrationsDir: string, migration: PlannedMigration): Promise<string> {
  const directory = path.join(migrationsDir, migration.directoryName);
  if (existsSync(directory)) throw new Error(`The migration directory already exists at ${directory}`);
  await mkdir(directory, { recursive: true });
  await writeFile(path.join(directory, 'migration.sql'), migration.script, 'utf8');
  const lockfile =
    '# Please do not edit this file manually\n' +
    '# It should be added in your version-control system (e.g., Git)\n' +
    'provider = "sqlite"\n';
  await writeFile(path.join(migrationsDir, lockfileName), lockfile, 'utf8');
  return directory;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      name: { type: 'string' },
      schema: { type: 'string', default: defaultSchemaFile },
      migrations: { type: 'string', default: defaultMigrationsDir },
    },
  });
  if (!values.name) throw new Error('usage: node --import tsx scripts/db-diff.ts --name <migration_name>');
  const migration = await planMigration({
    name: values.name,
    schemaFile: path.resolve(values.schema),
    migrationsDir: path.resolve(values.migrations),
  });
  if (migration === null) {
    console.log('no changes');
    return;
  }
  console.log(await writeMigration(path.resolve(values.migrations), migration));
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await main();
}
