// The contract between server and clients: schema.graphql is the server's schema, graphql-env.d.ts is derived
// from it, and every typed operation of the examples type-checks against it. A schema change that breaks a client
// fails here (run `npm run schema`, then fix the operations).
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SCHEMA_FILE, currentSchemaText } from '../scripts/print-schema.js';
import { REPO_ROOT } from './helpers/shared.js';

const run = promisify(execFile);
const bin = (name: string) => path.join(REPO_ROOT, 'node_modules/.bin', name);
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'gramian-schema-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('client contract', () => {
  it('schema.graphql is the schema the server serves', async () => {
    expect(await readFile(SCHEMA_FILE, 'utf8')).toBe(currentSchemaText());
  });

  it('client-example/graphql-env.d.ts is derived from schema.graphql', async () => {
    const generated = path.join(dir, 'graphql-env.d.ts');
    await run(
      bin('gql.tada'),
      ['generate', 'output', '--tsconfig', 'client-example/tsconfig.json', '--output', generated],
      { cwd: REPO_ROOT },
    );
    expect(await readFile(generated, 'utf8')).toBe(
      await readFile(path.join(REPO_ROOT, 'client-example/graphql-env.d.ts'), 'utf8'),
    );
  });

  it('every typed operation of the web page and the scripts type-checks against it', async () => {
    const result = await run(bin('tsc'), ['--noEmit', '-p', 'client-example'], { cwd: REPO_ROOT }).then(
      () => ({ code: 0, stdout: '' }),
      (error: { code: number; stdout: string }) => ({ code: error.code, stdout: error.stdout }),
    );
    expect(result.stdout).toBe('');
    expect(result.code).toBe(0);
  });
});
