// The catalogue of pretrained fast-style models: every entry found in ../shared and matching its recorded digest,
// fetching from a (local) server into the cache, and clear errors when a model cannot be had.
import { createReadStream, existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  catalogueModel,
  ensureCatalogueModel,
  fetchCatalogueModel,
  locateCatalogueModel,
  MODEL_CATALOGUE,
  ModelMissingError,
  verifyCatalogueModel,
} from '../src/engine/index.js';
import { SHARED } from './helpers/shared.js';

const MODELS = path.join(SHARED, 'models');
let cache: string;
let server: http.Server;
let baseUrl: string;
let requests = 0;

beforeAll(async () => {
  cache = await mkdtemp(path.join(os.tmpdir(), 'gramian-models-'));
  // Serves ../shared/models/<publisher folder>/<file>, like the publishers' raw URLs.
  server = http.createServer((request, response) => {
    requests += 1;
    const file = path.join(MODELS, decodeURIComponent(new URL(request.url!, 'http://x').pathname));
    if (!file.startsWith(MODELS) || !existsSync(file)) return void response.writeHead(404).end();
    createReadStream(file).pipe(response);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.close();
  await rm(cache, { recursive: true, force: true });
});

const env = () => ({ GRAMIAN_CACHE: cache });

describe('model catalogue', () => {
  it('has 14 uniquely named models, all present in ../shared with the recorded digests', async () => {
    expect(MODEL_CATALOGUE).toHaveLength(14);
    expect(new Set(MODEL_CATALOGUE.map((m) => m.name)).size).toBe(14);
    for (const model of MODEL_CATALOGUE) {
      const location = locateCatalogueModel(model, { GRAMIAN_MODELS: MODELS, GRAMIAN_CACHE: cache });
      expect(location, model.name).toBe(path.join(MODELS, model.location));
      expect(await verifyCatalogueModel(model, location!), model.name).toBe(true);
    }
  });

  it.each(['mosaic', 'scream'])('fetches %s into the cache on first use, then finds it there', async (name) => {
    const entry = catalogueModel(name)!;
    const published = {
      ...entry,
      baseUrl: `${baseUrl}/${entry.format === 'ncnn' ? path.dirname(entry.location) : entry.location}`,
    };
    const progress: number[] = [];
    const location = await fetchCatalogueModel(published, {
      env: env(),
      onProgress: (p) => progress.push(p.receivedBytes),
    });
    expect(location).toBe(path.join(cache, 'style-models', entry.location));
    expect(progress.at(-1)).toBe(entry.bytes);
    expect(await verifyCatalogueModel(entry, location)).toBe(true);
    const before = requests;
    expect(await ensureCatalogueModel(entry, { env: env() })).toBe(location);
    expect(requests).toBe(before);
  });

  it('refuses files that are not the published model, leaving nothing behind', async () => {
    const entry = catalogueModel('candy')!;
    // candy's recorded digest, but mosaic's files.
    const wrong = { ...entry, files: ['mosaic-9.param', 'mosaic-9.bin'], baseUrl: `${baseUrl}/pytorch-fns-ncnn-fp16` };
    await expect(fetchCatalogueModel(wrong, { env: env() })).rejects.toThrow(/SHA-256/);
    expect(locateCatalogueModel(entry, env())).toBeUndefined();
  });

  it('says where to put the files when it cannot download them', async () => {
    const entry = catalogueModel('wave')!;
    const error = await fetchCatalogueModel({ ...entry, baseUrl: 'http://127.0.0.1:9/none' }, { env: env() }).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(ModelMissingError);
    expect((error as Error).message).toContain(path.join(cache, 'style-models', 'fast-style-ml5'));
    expect((error as Error).message).toContain('GRAMIAN_MODELS');
    await expect(ensureCatalogueModel(entry, { env: env(), allowDownload: false })).rejects.toThrow(
      /downloads are off/,
    );
  });
});
