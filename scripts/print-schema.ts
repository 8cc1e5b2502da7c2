// Writes the server's GraphQL schema to schema.graphql (the clients' typed operations are derived from it):
//   node --import tsx scripts/print-schema.ts            write it
//   node --import tsx scripts/print-schema.ts --check    exit 1 if the file is stale
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import type * as graphql from 'graphql';
import { schema } from '../src/schema/index.js';

// graphql 16 has a CommonJS and an ES build; the schema is built with the one Node's require loads (test runners
// may hand an import the other), and printing needs the same one.
const { lexicographicSortSchema, printSchema } = createRequire(import.meta.url)('graphql') as typeof graphql;

export const SCHEMA_FILE = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'schema.graphql');

export function currentSchemaText(): string {
  return `${printSchema(lexicographicSortSchema(schema))}\n`;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const text = currentSchemaText();
  if (process.argv.includes('--check')) {
    const stale = readFileSync(SCHEMA_FILE, 'utf8') !== text;
    if (stale) console.error('schema.graphql is stale: run `npm run schema`');
    process.exit(stale ? 1 : 0);
  }
  writeFileSync(SCHEMA_FILE, text);
  console.error(`wrote ${SCHEMA_FILE}`);
}
