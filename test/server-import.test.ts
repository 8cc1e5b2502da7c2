// importStyleModel reads only under the import folder: no absolute path, no `..`, no link leads out, and every
// refusal outside reads the same, so answers cannot tell which files exist elsewhere. Admin only.
import { cp, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bearerKey, footprint, gql, startTestServer, type TestServer } from './helpers/server.js';
import { SHARED_MODELS } from './helpers/shared.js';

const IMPORT = /* GraphQL */ `
  mutation ($input: ImportStyleModelInput!) {
    importStyleModel(input: $input) {
      __typename
      ... on StyleModel {
        name
        source
      }
      ... on Error {
        code
        message
      }
      ... on InputError {
        field
        validValues
      }
    }
  }
`;

let root: string;
let importDir: string;
let server: TestServer;

beforeAll(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'gramian-import-'));
  importDir = path.join(root, 'imports');
  const outside = path.join(root, 'outside');
  await mkdir(path.join(importDir, 'ok'), { recursive: true });
  await mkdir(outside);
  // A real model inside; the same model outside; links from inside to outside (a file, a folder, a .bin).
  await cp(path.join(SHARED_MODELS, 'pytorch-fns-ncnn-fp16/candy9.param'), path.join(importDir, 'ok/candy.param'));
  await cp(path.join(SHARED_MODELS, 'pytorch-fns-ncnn-fp16/candy9.bin'), path.join(importDir, 'ok/candy.bin'));
  await cp(path.join(SHARED_MODELS, 'pytorch-fns-ncnn-fp16/candy9.param'), path.join(outside, 'secret.param'));
  await cp(path.join(SHARED_MODELS, 'pytorch-fns-ncnn-fp16/candy9.bin'), path.join(outside, 'secret.bin'));
  await cp(path.join(SHARED_MODELS, 'fast-style-ml5/wave'), path.join(outside, 'wave'), { recursive: true });
  await symlink(path.join(outside, 'secret.param'), path.join(importDir, 'linked.param'));
  await symlink(path.join(outside, 'wave'), path.join(importDir, 'linked-folder'));
  await mkdir(path.join(importDir, 'half'));
  await cp(path.join(SHARED_MODELS, 'pytorch-fns-ncnn-fp16/candy9.param'), path.join(importDir, 'half/m.param'));
  await symlink(path.join(outside, 'secret.bin'), path.join(importDir, 'half/m.bin'));
  await cp(path.join(SHARED_MODELS, 'fast-style-ml5/wave'), path.join(importDir, 'mixed'), { recursive: true });
  await rm(path.join(importDir, 'mixed/manifest.json'));
  await symlink(path.join(outside, 'wave/manifest.json'), path.join(importDir, 'mixed/manifest.json'));
  await writeFile(path.join(importDir, 'notes.txt'), 'not a model');
  server = await startTestServer({ GRAMIAN_IMPORT_DIR: importDir });
});

afterAll(async () => {
  await server.stop();
  await rm(root, { recursive: true, force: true });
});

const importAs = (name: string, file: string, authorization?: string) =>
  gql(server.url, IMPORT, { input: { name, path: file } }, { ...(authorization ? { authorization } : {}) });

describe('importStyleModel', () => {
  it('imports a model by its path relative to the import folder', async () => {
    const answer = await importAs('candy here', 'ok/candy.param');
    expect(answer.data!.importStyleModel).toEqual({ __typename: 'StyleModel', name: 'candy here', source: 'IMPORT' });
  });

  it('answers every path that leads out of the import folder, or names nothing, with the same refusal', async () => {
    const before = await footprint(server);
    const outside = path.join(root, 'outside');
    const attempts = [
      path.join(outside, 'secret.param'), // absolute, exists
      path.join(outside, 'missing.param'), // absolute, does not exist
      '/etc/passwd',
      '../outside/secret.param', // escapes, exists
      '../outside/missing.param', // escapes, does not exist
      'ok/../../outside/wave',
      'linked.param', // a link to a model outside
      'linked-folder', // a link to a checkpoint folder outside
      'half/m.param', // inside, but its .bin links out
      'mixed', // a folder inside whose manifest links out
      'missing.param', // inside, does not exist
      '',
    ];
    const answers = await Promise.all(attempts.map((file, i) => importAs(`probe ${i}`, file)));
    const refusals = answers.map((answer) => answer.data!.importStyleModel);
    for (const refusal of refusals) expect(refusal).toEqual(refusals[0]);
    expect(refusals[0]).toMatchObject({ __typename: 'InputError', code: 'INVALID_INPUT', field: 'path' });
    expect(JSON.stringify(refusals[0])).not.toContain(outside);
    expect(await footprint(server)).toEqual(before);
  });

  it('says what is wrong with a file inside the folder that is not a model', async () => {
    const answer = (await importAs('notes', 'notes.txt')).data!.importStyleModel;
    expect(answer).toMatchObject({ __typename: 'InputError', field: 'path' });
    expect(answer.message).toContain('notes.txt');
  });

  it('is for admins only: a manage key gets FORBIDDEN and nothing is read', async () => {
    const manager = await bearerKey(server, 'maria', ['manage']);
    const answer = await importAs('candy again', 'ok/candy.param', manager);
    expect(answer.data?.importStyleModel ?? null).toBeNull();
    expect(answer.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
  });
});
