// The pretrained fast-style networks Gramian knows by name, where they are published, and how they get onto
// disk: a models folder (GRAMIAN_MODELS, laid out as the publishers' repositories are), then the user cache, then
// a download on first use, checked against the digests recorded here.
import { createHash, randomUUID, type Hash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { downloadFile, type DownloadProgress } from '../assets/download.js';
import { cacheRoot } from '../assets/paths.js';
import { DownloadError, ModelMissingError, TransferAbortedError } from '../errors.js';
import { ML5_MANIFEST, parseManifest } from './ml5-checkpoint.js';
import type { Architecture, ModelFormat } from './types.js';

export interface CatalogueModel {
  /** The name users pick it by (`--model mosaic`). */
  name: string;
  title: string;
  architecture: Architecture;
  format: ModelFormat;
  /** What the loader is given, relative to a models folder: the checkpoint folder or the .param file. */
  location: string;
  /** Public address of `location`'s folder; files are fetched from there. */
  baseUrl: string;
  /** Files to fetch (relative to location's folder) or, for a checkpoint, read from its manifest. */
  files: string[];
  /** SHA-256 of the weight bytes (the .bin, or every checkpoint variable in order). */
  digest: string;
  /** Total download size. */
  bytes: number;
  licence: string;
}

const ML5 =
  'https://raw.githubusercontent.com/ml5js/ml5-data-and-models/0612a3e7c51cbffdc5db701dff49d16d1ac26fa8/models/style-transfer';
const NCNN =
  'https://raw.githubusercontent.com/Baiyuetribe/ncnn-models/1a5015b5a53237e63019b91ef46ea36c68df496c/style_transfer/styletransfer/models';
const NCNN_PARAM_DIGEST = 'e244a251380e25185a4524de83ff89daaa3c03c4e218fc27ff7a81f35945bb74';

function ml5(name: string, folder: string, title: string, digest: string): CatalogueModel {
  return {
    name,
    title,
    architecture: 'engstrom',
    format: 'ml5-checkpoint',
    location: `fast-style-ml5/${folder}`,
    baseUrl: `${ML5}/${folder}`,
    files: ['manifest.json'],
    digest,
    bytes: 6_715_241,
    licence: 'MIT (ml5js/ml5-data-and-models; lengstrom/fast-style-transfer checkpoints)',
  };
}

function ncnn(name: string, file: string, title: string, digest: string): CatalogueModel {
  return {
    name,
    title,
    architecture: 'pytorch',
    format: 'ncnn',
    location: `pytorch-fns-ncnn-fp16/${file}.param`,
    baseUrl: NCNN,
    files: [`${file}.param`, `${file}.bin`],
    digest,
    bytes: 3_373_751,
    licence: 'BSD-3-Clause (pytorch/examples fast_neural_style, via the ONNX model zoo and Baiyuetribe/ncnn-models)',
  };
}

export const MODEL_CATALOGUE: readonly CatalogueModel[] = [
  ncnn('candy', 'candy9', 'Candy', '33cee36c21be4074eb580fdddebe19e02ffe572a2e302106d739796ea601161c'),
  ncnn('mosaic', 'mosaic-9', 'Mosaic', 'b743d9de15069e384dcc95fd2efde910086933a476442efa745cac4b6c529b33'),
  ncnn('pointilism', 'pointilism-9', 'Pointilism', '631e78787b008e268b8f3758d00d79928c4e72134c9062b9a78382e1e407ecae'),
  ncnn(
    'rain-princess',
    'rain-princess-9',
    'Rain Princess (Afremov)',
    '63665e8116d4bab2dfc5a9f1d5d6a71c43055ff41349bbff1a4e865652c188df',
  ),
  ncnn('udnie', 'udnie-9', 'Udnie (Picabia)', '010006b6d1b7ec281cbe57024d22caad9b1dcf27eb6eef080d93495be306e66f'),
  ml5('la-muse', 'la_muse', 'La Muse (Picasso)', 'ee6b066e9ce028cde081eee0fc8425279c991dbba71a66dd996b239e7dbbc68e'),
  ml5('mathura', 'mathura', 'Mathura', 'e38c93d70ece5117e0b553e1d31e2ad31f0c41a3aeb9e4cfa218306bcfe069b5'),
  ml5(
    'matilde-perez',
    'matilde_perez',
    'Matilde Pérez (op art)',
    '9b61f1b535ca349076e389cbcc1334708c819539eb9f3446410b06ae47ddde6f',
  ),
  ml5('matta', 'matta', 'Matta', '695f65ff37b69c7e68f74b2a5245fb934ed65e086c070a1e29e1a9ac142c7e92'),
  ml5(
    'rain-princess-ml5',
    'rain_princess',
    'Rain Princess (Afremov), Engstrom net',
    '35a435e32c862f24bb66d30add17858c61b428af942a26f3d469496cbf6731a3',
  ),
  ml5('scream', 'scream', 'The Scream (Munch)', 'a3fef73ba9d41d001e4d17f1b69fbff5102cf663034aa384d3ae95f045353bf9'),
  ml5(
    'udnie-ml5',
    'udnie',
    'Udnie (Picabia), Engstrom net',
    'fcc043b36bfc1d4cf6a9de3d3d21c1c8f38a869cd63ed9c82893313a348c3e34',
  ),
  ml5('wave', 'wave', 'The Great Wave (Hokusai)', '34b46bfffeb17c5905c163247e6a35c3c6f64b188ce6df0d92cac115c2c129c3'),
  ml5(
    'wreck',
    'wreck',
    'The Shipwreck of the Minotaur (Turner)',
    '7a564b6575246f21717038bd23534a45942d9096227377548771ac69fe578ba7',
  ),
];

export function catalogueModel(name: string): CatalogueModel | undefined {
  return MODEL_CATALOGUE.find((m) => m.name === name);
}

/** Folders searched for catalogue models: GRAMIAN_MODELS (laid out like ../shared/models), then the cache. */
export function modelsSearchPath(env: NodeJS.ProcessEnv = process.env): string[] {
  return [...(env.GRAMIAN_MODELS ? [path.resolve(env.GRAMIAN_MODELS)] : []), path.join(cacheRoot(env), 'style-models')];
}

/** The files of a model in fetch order: for a checkpoint, the manifest then its variables in creation order. */
async function weightFiles(model: CatalogueModel, folder: string): Promise<string[]> {
  if (model.format === 'ncnn') return [model.files[1]!];
  const manifestFile = path.join(folder, ML5_MANIFEST);
  const manifest = parseManifest(await readFile(manifestFile, 'utf8'), manifestFile);
  const order = (name: string) => Number(name.split('_')[1] ?? 0);
  return [...manifest.keys()].sort((a, b) => order(a) - order(b)).map((name) => manifest.get(name)!.filename);
}

/** SHA-256 over the weight files, to check a folder holds exactly the published model. */
async function digestOf(model: CatalogueModel, folder: string): Promise<string> {
  const hash = createHash('sha256');
  for (const file of await weightFiles(model, folder)) hash.update(await readFile(path.join(folder, file)));
  return hash.digest('hex');
}

function folderOf(model: CatalogueModel, root: string): string {
  return model.format === 'ncnn' ? path.join(root, path.dirname(model.location)) : path.join(root, model.location);
}

/** The model's location under the first folder of the search path that holds all its files, or undefined. */
export function locateCatalogueModel(model: CatalogueModel, env: NodeJS.ProcessEnv = process.env): string | undefined {
  for (const root of modelsSearchPath(env)) {
    const folder = folderOf(model, root);
    if (model.files.every((file) => existsSync(path.join(folder, file)))) return path.join(root, model.location);
  }
  return undefined;
}

export interface FetchCatalogueOptions {
  onProgress?: (progress: DownloadProgress) => void;
  signal?: AbortSignal;
  env?: NodeJS.ProcessEnv;
}

/**
 * Downloads a catalogue model into the cache, checks its digest, and returns its location. The files land in a
 * staging folder first, so an interrupted or corrupt download never looks like a model.
 */
export async function fetchCatalogueModel(model: CatalogueModel, options: FetchCatalogueOptions = {}): Promise<string> {
  const root = path.join(cacheRoot(options.env), 'style-models');
  const folder = folderOf(model, root);
  // Unique per call: two processes (or two runs) fetching the same model never write into one staging folder.
  const staging = `${folder}.partial-${process.pid}-${randomUUID()}`;
  await mkdir(staging, { recursive: true });
  let done = 0;
  const fetchInto = async (file: string, alsoHash?: Hash) => {
    await downloadFile(`${model.baseUrl}/${file}`, path.join(staging, file), {
      ...(alsoHash ? { alsoHash } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
      onBytes: (received) =>
        options.onProgress?.({ stage: 'download', receivedBytes: done + received, totalBytes: model.bytes }),
    });
    done += (await stat(path.join(staging, file))).size;
  };
  try {
    // The digest covers the weights only, in load order; manifests and .param files are read to find them.
    const weights = createHash('sha256');
    if (model.format === 'ncnn') {
      await fetchInto(model.files[0]!);
      await fetchInto(model.files[1]!, weights);
    } else {
      for (const file of model.files) await fetchInto(file);
      for (const file of await weightFiles(model, staging)) await fetchInto(file, weights);
    }
    const digest = weights.digest('hex');
    if (digest !== model.digest)
      throw new Error(`the downloaded files have SHA-256 ${digest}, expected ${model.digest}`);
  } catch (error) {
    await rm(staging, { recursive: true, force: true });
    if (error instanceof TransferAbortedError) throw error;
    const reason = error instanceof DownloadError ? error.message : (error as Error).message;
    throw new ModelMissingError(
      model.name,
      `could not fetch style model "${model.name}" (${reason}). ` +
        `Put its files in ${path.join(root, path.dirname(model.location))} ` +
        `or point GRAMIAN_MODELS at a folder that holds ${model.location}.`,
    );
  }
  await mkdir(path.dirname(folder), { recursive: true });
  if (model.format === 'ncnn') {
    await mkdir(folder, { recursive: true });
    for (const file of model.files) await rename(path.join(staging, file), path.join(folder, file));
    await rm(staging, { recursive: true, force: true });
  } else {
    await rm(folder, { recursive: true, force: true });
    await rename(staging, folder);
  }
  return path.join(root, model.location);
}

/** The location of a catalogue model on disk, fetching it first if it is nowhere on the search path. */
export async function ensureCatalogueModel(
  model: CatalogueModel,
  options: FetchCatalogueOptions & { allowDownload?: boolean } = {},
): Promise<string> {
  const found = locateCatalogueModel(model, options.env);
  if (found) return found;
  if (options.allowDownload === false) {
    throw new ModelMissingError(
      model.name,
      `style model "${model.name}" is not on disk ` +
        `(searched ${modelsSearchPath(options.env).join(', ')}) and downloads are off`,
    );
  }
  return fetchCatalogueModel(model, options);
}

/** Checks that a folder's copy of a catalogue model is the published one. */
export async function verifyCatalogueModel(model: CatalogueModel, location: string): Promise<boolean> {
  const folder = model.format === 'ncnn' ? path.dirname(location) : location;
  if (model.format === 'ncnn') {
    const param = createHash('sha256')
      .update(await readFile(path.join(folder, model.files[0]!)))
      .digest('hex');
    if (param !== NCNN_PARAM_DIGEST) return false;
  }
  return (await digestOf(model, folder)) === model.digest;
}
