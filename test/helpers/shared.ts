// Paths to the shared test data (real weights and sample images), which live beside the repo, never in it.
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const SHARED = path.resolve(REPO_ROOT, '../shared');

if (!existsSync(SHARED)) throw new Error(`test data not found: ${SHARED} must sit beside the repository`);

export const SHARED_MODELS = path.join(SHARED, 'models');
export const VGG19_UINT8 = path.join(SHARED_MODELS, 'vgg19-uint8-neuralpixels');
export const VGG19_KERAS_F32 = path.join(SHARED, 'models/vgg19-keras-f32-partial-davidcai');
export const contentImage = (name: string) => path.join(SHARED, 'images/content', name);
export const styleImage = (name: string) => path.join(SHARED, 'images/style', name);

export function readShared(file: string): Promise<Buffer> {
  return readFile(file);
}
