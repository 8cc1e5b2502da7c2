// The README's GraphQL examples are what people paste into GraphiQL and copy into frontends: every operation in a
// ```graphql block must be valid against the server's schema, so a schema change that breaks one fails here.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { buildSchema, Kind, parse, validate, type DefinitionNode } from 'graphql';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from './helpers/shared.js';

// schema.graphql is the server's schema as printed (test/client-schema.test.ts fails when it is stale).
const schema = buildSchema(await readFile(path.join(REPO_ROOT, 'schema.graphql'), 'utf8'));
const readme = await readFile(path.join(REPO_ROOT, 'README.md'), 'utf8');
// Blocks may be indented (inside list items); the indentation is stripped with the fence's own.
const blocks = [...readme.matchAll(/^( *)```graphql\n([\s\S]*?)^\1```/gm)].map((match) =>
  match[2]!.replace(new RegExp(`^${match[1]}`, 'gm'), ''),
);

describe('README', () => {
  it('has GraphQL examples', () => {
    expect(blocks.length).toBeGreaterThanOrEqual(5);
  });

  it.each(blocks.map((block, i) => [i + 1, block] as const))(
    'example %i is valid against the schema',
    (_index, block) => {
      const definitions = parse(block).definitions;
      const fragments = definitions.filter((d) => d.kind === Kind.FRAGMENT_DEFINITION);
      // A block may hold several anonymous operations (one per line, to paste one at a time): check each alone.
      for (const operation of definitions.filter((d): d is DefinitionNode => d.kind === Kind.OPERATION_DEFINITION)) {
        const errors = validate(schema, { kind: Kind.DOCUMENT, definitions: [operation, ...fragments] });
        expect(errors.map((e) => e.message)).toEqual([]);
      }
    },
  );
});
