// The SQLite schema (prisma/schema.prisma) and the PostgreSQL one (prisma/postgres/schema.prisma) describe the same
// database: the domain code is written once, against one client type. Both are read by Prisma's own parser
// (@prisma/prisma-schema-wasm, the DMMF the generators get) and compared model by model, field by field. The PostgreSQL
// migrations must produce the PostgreSQL schema, as prisma/migrations do the SQLite one (test/storage-migrate.test.ts).
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { defaultPostgresSchemaFile, defaultSchemaFile, planMigration } from '../scripts/db-diff.js';
import { defaultPostgresMigrationsDir } from '../src/storage/migrate-postgres.js';
import { RUN_POSTGRES } from './helpers/postgres.js';

const prismaSchemaWasm = createRequire(import.meta.url)('@prisma/prisma-schema-wasm') as {
  get_dmmf(params: string): string;
};

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/**
 * The datamodel as Prisma's parser reads it, in a form that compares by name: models, fields and enums keyed by name,
 * indexes (@id, @@id, @unique, @@unique, @@index) keyed by model, kind and columns. Documentation comments may differ
 * (they describe the provider), and so may native types (@db.…), which change no client type.
 */
function datamodelOf(schema: string): Json {
  const dmmf = JSON.parse(prismaSchemaWasm.get_dmmf(JSON.stringify({ prismaSchema: schema }))) as {
    datamodel: {
      models: { name: string; fields: { name: string }[] }[];
      enums: { name: string; values: { name: string }[] }[];
      indexes: { model: string; type: string; fields: { name: string }[] }[];
      types: { name: string }[];
    };
  };
  const { models, enums, indexes, types } = dmmf.datamodel;
  const byName = <T extends { name: string }>(items: T[], shape: (item: T) => Json) =>
    Object.fromEntries(items.map((item) => [item.name, shape(item)]));
  const strip = (value: object) =>
    JSON.parse(
      JSON.stringify(value, (key, inner: unknown) =>
        ['documentation', 'nativeType'].includes(key) ? undefined : inner,
      ),
    ) as {
      [key: string]: Json;
    };
  return {
    models: byName(models, (model) => ({ ...strip(model), fields: byName(model.fields, strip) })),
    enums: byName(enums, (item) => ({ ...strip(item), values: byName(item.values, strip) })),
    indexes: Object.fromEntries(
      indexes.map((index) => [
        `${index.model} ${index.type} (${index.fields.map((field) => field.name).join(', ')})`,
        strip(index),
      ]),
    ),
    types: byName(types, strip),
  };
}

/** Where two datamodels differ, as paths (`models.Run.fields.round.isRequired: true ≠ false`); empty when alike. */
function differences(sqlite: Json, postgres: Json, at = ''): string[] {
  const isObject = (value: Json): value is { [key: string]: Json } =>
    typeof value === 'object' && value !== null && !Array.isArray(value);
  if (isObject(sqlite) && isObject(postgres)) {
    const keys = [...new Set([...Object.keys(sqlite), ...Object.keys(postgres)])].sort();
    return keys.flatMap((key) => {
      const where = at ? `${at}.${key}` : key;
      if (!(key in postgres)) return [`${where}: only in prisma/schema.prisma`];
      if (!(key in sqlite)) return [`${where}: only in prisma/postgres/schema.prisma`];
      return differences(sqlite[key]!, postgres[key]!, where);
    });
  }
  const [a, b] = [JSON.stringify(sqlite), JSON.stringify(postgres)];
  return a === b ? [] : [`${at}: ${a} (SQLite) ≠ ${b} (PostgreSQL)`];
}

const sqliteSchema = readFileSync(defaultSchemaFile, 'utf8');
const postgresSchema = readFileSync(defaultPostgresSchemaFile, 'utf8');

describe('prisma/postgres/schema.prisma', () => {
  it('has the same models, fields, relations, enums and indexes as prisma/schema.prisma', () => {
    expect(differences(datamodelOf(sqliteSchema), datamodelOf(postgresSchema))).toEqual([]);
  });

  it('is compared closely enough to catch a change to either file', () => {
    const changes: [string, (schema: string) => string, string][] = [
      [
        'an optional field',
        (s) => s.replace(/^(\s+startedAt\s+DateTime)\?/m, '$1'),
        'models.Run.fields.startedAt.isRequired',
      ],
      [
        'a default',
        (s) => s.replace(/^(\s+round\s+Int\s+)@default\(0\)/m, '$1@default(1)'),
        'models.Run.fields.round.default',
      ],
      ['an index', (s) => s.replace(/^\s+@@index\(\[queuedAt\]\)\n/m, ''), 'indexes.Run normal (queuedAt)'],
      [
        'a unique constraint',
        (s) => s.replace(/^(\s+prefix\s+String\s+)@unique/m, '$1'),
        'models.ApiKey.fields.prefix.isUnique',
      ],
      ['an enum value', (s) => s.replace(/^(\s+CANCELED)$/m, '$1\n  PAUSED'), 'enums.RunStatus.values.PAUSED'],
      [
        'a referential action',
        (s) => s.replace('onDelete: SetNull)\n  queuedAt', 'onDelete: Cascade)\n  queuedAt'),
        'relationOnDelete',
      ],
      [
        'a field',
        (s) => s.replace(/^\s+cancelRequested\s+Boolean.*\n/m, ''),
        'models.Run.fields.cancelRequested: only in',
      ],
    ];
    for (const [what, change, expected] of changes) {
      const changed = change(postgresSchema);
      expect(changed, what).not.toBe(postgresSchema);
      const found = differences(datamodelOf(sqliteSchema), datamodelOf(changed));
      expect(found.join('\n'), what).toContain(expected);
    }
  });
});

describe.skipIf(!RUN_POSTGRES)('prisma/postgres/migrations', () => {
  it('produce prisma/postgres/schema.prisma exactly (nothing left to migrate)', async () => {
    expect(await planMigration({ name: 'drift_check', provider: 'postgresql' })).toBeNull();
  });

  it('are found behind when the schema moves on', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'gramian-pg-drift-'));
    try {
      const changedSchema = path.join(dir, 'schema.prisma');
      await writeFile(changedSchema, postgresSchema.replace(/^(\s+mime\s+String)$/m, '$1\n  label String?'));
      const planned = await planMigration({
        name: 'addImageLabel',
        provider: 'postgresql',
        schemaFile: changedSchema,
        migrationsDir: defaultPostgresMigrationsDir,
      });
      expect(planned?.script).toBe('-- AlterTable\nALTER TABLE "Image" ADD COLUMN     "label" TEXT;\n');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
