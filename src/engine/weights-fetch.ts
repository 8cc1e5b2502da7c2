// Gets VGG19 onto disk: downloads the Keras applications ImageNet weights (HDF5) and converts them into a weights
// folder that loadVgg19 reads (TF.js manifest, float32, kernels [W,H,in,out], RGB − mean input).
import { createHash } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import { mkdir, mkdtemp, open, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Dataset, Group } from 'h5wasm/node';
import { TransferAbortedError, WeightsInvalidError, WeightsMissingError } from './errors.js';
import { CONV_LAYERS } from './layers.js';
import { cacheRoot, locateVggWeights, MANIFEST_NAMES, vggCacheDir, WEIGHTS_COMMAND } from './weight-paths.js';

/** The Keras applications VGG19 without the classifier; md5 as published by keras.applications. */
export const KERAS_VGG19 = {
  file: 'vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5',
  url: 'https://storage.googleapis.com/tensorflow/keras-applications/vgg19/vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5',
  md5: '253f8cb515780f3b799900260a226db6',
} as const;

export interface WeightsFetchProgress {
  stage: 'download' | 'convert';
  /** Bytes downloaded, or bytes of converted weights written. */
  receivedBytes: number;
  /** Undefined when the server sends no Content-Length. */
  totalBytes?: number;
}

export type WeightsFetchProgressListener = (progress: WeightsFetchProgress) => void;

export interface ConvertOptions {
  /** Recorded in SOURCE.json. */
  sourceUrl?: string;
  onProgress?: WeightsFetchProgressListener;
}

export interface FetchVggWeightsOptions {
  /** Defaults to GRAMIAN_VGG19_URL, then KERAS_VGG19.url. */
  url?: string;
  md5?: string;
  /** Where the converted weights go; defaults to vggCacheDir(). */
  cacheDir?: string;
  /** Where the .h5 is downloaded to, or dropped by hand when offline; defaults to <cacheRoot>/downloads. */
  downloadsDir?: string;
  onProgress?: WeightsFetchProgressListener;
  signal?: AbortSignal;
}

export interface EnsureVggWeightsOptions {
  /** A weights folder named by the caller (e.g. a CLI flag); GRAMIAN_WEIGHTS is used when absent. */
  explicitDir?: string;
  /** Download and convert when no weights are found (default true). */
  allowDownload?: boolean;
  onProgress?: WeightsFetchProgressListener;
  signal?: AbortSignal;
}

type H5Wasm = (typeof import('h5wasm/node'))['default'];
/** [H,W,in,out] as Keras stores a kernel. */
type Hwio = [number, number, number, number];

const MANIFEST_FILE = MANIFEST_NAMES[0];
const HDF5_SIGNATURE = Buffer.from([0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a]);
const VGG19_CHANNELS = [64, 64, 128, 128, 256, 256, 256, 256, 512, 512, 512, 512, 512, 512, 512, 512];

/** conv3_2 → block3_conv2 (Keras layer name). */
function kerasLayerName(convName: string): string {
  return convName.replace(/^conv(\d)_(\d)$/, 'block$1_conv$2');
}

/** Keras stores string lists as fixed-length byte strings; h5wasm decodes them to strings (a bare string if scalar). */
function stringList(value: unknown): string[] {
  const items = Array.isArray(value) ? value : [value];
  return items.filter((item): item is string => typeof item === 'string').map((item) => item.trim());
}

function attributeStrings(entity: Group, name: string): string[] {
  // get_attribute throws an opaque "name not defined" for a missing attribute, so look first.
  return name in entity.attrs ? stringList(entity.get_attribute(name, false)) : [];
}

interface KerasConv {
  name: string;
  kernel: Dataset;
  bias: Dataset;
  kernelShape: Hwio;
}

/** Finds the 16 conv layers and checks their shapes without reading any weights. */
function findKerasConvs(h5: H5Wasm, file: Group, h5Path: string): KerasConv[] {
  const layerNames = attributeStrings(file, 'layer_names');
  if (layerNames.length === 0) throw new WeightsInvalidError(`${h5Path} is not a Keras weights file (no layer_names attribute)`);
  const problems: string[] = [];
  const convs: KerasConv[] = [];
  CONV_LAYERS.forEach((name, i) => {
    const layer = kerasLayerName(name);
    const group = layerNames.includes(layer) ? file.get(layer) : null;
    if (!(group instanceof h5.Group)) {
      problems.push(`${layer} is missing`);
      return;
    }
    // Old Keras names weights block1_conv1_W_1:0 / _b_1:0, newer ones block1_conv1/kernel:0 / bias:0: tell them
    // apart by rank.
    const weights = attributeStrings(group, 'weight_names')
      .map((weightName) => file.get(`${layer}/${weightName}`))
      .filter((entity): entity is Dataset => entity instanceof h5.Dataset);
    const kernel = weights.find((w) => w.shape?.length === 4);
    const bias = weights.find((w) => w.shape?.length === 1);
    const inChannels = i === 0 ? 3 : VGG19_CHANNELS[i - 1]!;
    const outChannels = VGG19_CHANNELS[i]!;
    const wantKernel: Hwio = [3, 3, inChannels, outChannels];
    if (!kernel || !bias) problems.push(`${layer} has no ${kernel ? '1-D bias' : '4-D kernel'} among its weight_names`);
    else if (kernel.shape!.join(',') !== wantKernel.join(',')) problems.push(`${layer} kernel has shape [${kernel.shape}], expected [${wantKernel}]`);
    else if (bias.shape![0] !== outChannels) problems.push(`${layer} bias has shape [${bias.shape}], expected [${outChannels}]`);
    else convs.push({ name, kernel, bias, kernelShape: wantKernel });
  });
  if (problems.length > 0) throw new WeightsInvalidError(`${h5Path} does not hold the Keras VGG19 conv layers: ${problems.join('; ')}`);
  return convs;
}

function float32Values(dataset: Dataset, h5Path: string): Float32Array {
  const value = dataset.value;
  if (value instanceof Float32Array) return value;
  if (value instanceof Float64Array) return Float32Array.from(value);
  throw new WeightsInvalidError(`${h5Path}: ${dataset.path} has dtype ${JSON.stringify(dataset.dtype)}, expected float32`);
}

/**
 * HWIO → [W,H,in,out] (swap the spatial axes). With reverseInput the input channels are reversed too, which turns
 * Keras's BGR first layer into the RGB one our convention expects.
 */
function toWhioKernel(hwio: Float32Array, [height, width, inChannels, outChannels]: Hwio, reverseInput: boolean): Float32Array {
  const whio = new Float32Array(hwio.length);
  for (let h = 0; h < height; h++) {
    for (let w = 0; w < width; w++) {
      for (let i = 0; i < inChannels; i++) {
        const from = ((h * width + w) * inChannels + (reverseInput ? inChannels - 1 - i : i)) * outChannels;
        const to = ((w * height + h) * inChannels + i) * outChannels;
        whio.set(hwio.subarray(from, from + outChannels), to);
      }
    }
  }
  return whio;
}

async function md5OfFile(file: string): Promise<string> {
  const hash = createHash('md5');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

async function hasHdf5Signature(file: string): Promise<boolean> {
  const handle = await open(file, 'r');
  try {
    const { buffer, bytesRead } = await handle.read(Buffer.alloc(HDF5_SIGNATURE.length), 0, HDF5_SIGNATURE.length, 0);
    return bytesRead === HDF5_SIGNATURE.length && buffer.equals(HDF5_SIGNATURE);
  } finally {
    await handle.close();
  }
}

/** Moves a finished temp folder to outDir, replacing what was there; outDir never holds a partial set. */
async function replaceFolder(tempDir: string, outDir: string): Promise<void> {
  const previous = `${tempDir}.previous`;
  const hadPrevious = existsSync(outDir);
  if (hadPrevious) await rename(outDir, previous);
  try {
    await rename(tempDir, outDir);
  } catch (error) {
    if (hadPrevious) await rename(previous, outDir);
    throw error;
  }
  if (hadPrevious) await rm(previous, { recursive: true, force: true });
}

/**
 * Converts the Keras VGG19 HDF5 weights into a weights folder at outDir (replacing it atomically): one float32 file
 * per conv layer holding kernel then bias, tfjs_weights_manifest.json and SOURCE.json.
 */
export async function convertKerasVgg19(h5Path: string, outDir: string, options: ConvertOptions = {}): Promise<void> {
  const source = path.resolve(h5Path);
  // h5wasm opens a non-HDF5 file with an opaque error and dumps the HDF5 error stack to stderr, and "opens" a
  // missing file without error: check first (a missing file fails here with ENOENT).
  if (!(await hasHdf5Signature(source))) throw new WeightsInvalidError(`${source} is not an HDF5 file`);
  // Imported here so that loading the engine does not pay for the 4 MB wasm module.
  const { default: h5wasm } = await import('h5wasm/node');
  await h5wasm.ready;
  const file = new h5wasm.File(source, 'r');
  const target = path.resolve(outDir);
  let tempDir: string | undefined;
  try {
    const convs = findKerasConvs(h5wasm, file, source);
    await mkdir(path.dirname(target), { recursive: true });
    // A hidden sibling: same file system for the rename, and never on the weights search path.
    tempDir = await mkdtemp(path.join(path.dirname(target), `.${path.basename(target)}.tmp-`));
    const totalBytes = convs.reduce((sum, { kernelShape: [h, w, i, o] }) => sum + 4 * (h * w * i * o + o), 0);
    let writtenBytes = 0;
    options.onProgress?.({ stage: 'convert', receivedBytes: 0, totalBytes });
    const manifest: { paths: string[]; weights: { name: string; shape: number[]; dtype: 'float32' }[] }[] = [];
    for (const conv of convs) {
      const kernel = toWhioKernel(float32Values(conv.kernel, source), conv.kernelShape, conv.name === CONV_LAYERS[0]);
      const bias = float32Values(conv.bias, source);
      const [height, width, inChannels, outChannels] = conv.kernelShape;
      const fileName = `${conv.name}.bin`;
      const bytes = Buffer.concat([Buffer.from(kernel.buffer, kernel.byteOffset, kernel.byteLength), Buffer.from(bias.buffer, bias.byteOffset, bias.byteLength)]);
      await writeFile(path.join(tempDir, fileName), bytes);
      manifest.push({
        paths: [fileName],
        weights: [
          { name: `${conv.name}/kernel`, shape: [width, height, inChannels, outChannels], dtype: 'float32' },
          { name: `${conv.name}/bias`, shape: [outChannels], dtype: 'float32' },
        ],
      });
      writtenBytes += bytes.byteLength;
      options.onProgress?.({ stage: 'convert', receivedBytes: writtenBytes, totalBytes });
    }
    await writeFile(path.join(tempDir, MANIFEST_FILE), JSON.stringify(manifest, null, 1));
    const sourceInfo = {
      network: 'VGG19 (ImageNet, Simonyan & Zisserman; weights CC BY 4.0), conv1_1…conv5_4, from the Keras applications notop weights',
      source: { file: path.basename(source), url: options.sourceUrl, md5: await md5OfFile(source) },
      convertedAt: new Date().toISOString(),
      layout:
        'kernels [W,H,in,out] (Keras HWIO with H and W swapped); conv1_1 input channels reversed from Keras BGR to RGB; ' +
        'input is RGB 0..255 minus [123.68, 116.779, 103.939]',
    };
    await writeFile(path.join(tempDir, 'SOURCE.json'), `${JSON.stringify(sourceInfo, null, 2)}\n`);
    await replaceFolder(tempDir, target);
  } catch (error) {
    if (tempDir) await rm(tempDir, { recursive: true, force: true });
    throw error;
  } finally {
    file.close();
  }
}

function abortedError(): TransferAbortedError {
  return new TransferAbortedError('VGG19 weights download aborted');
}

/** The most useful line of a fetch failure: undici wraps the socket error (ECONNREFUSED, ENOTFOUND…) in `cause`. */
function describeFetchError(error: unknown): string {
  const cause = (error as { cause?: unknown }).cause;
  const inner = (cause ?? error) as { message?: string; code?: string };
  return inner.message || inner.code || String(error);
}

interface DownloadTarget {
  url: string;
  md5: string;
  h5File: string;
  cacheDir: string;
  onProgress?: WeightsFetchProgressListener;
  signal?: AbortSignal;
}

function downloadFailed({ url, md5, h5File, cacheDir }: DownloadTarget, detail: string): WeightsMissingError {
  return new WeightsMissingError(
    cacheDir,
    WEIGHTS_COMMAND,
    `could not download the VGG19 weights from ${url} (${detail}). If this machine has no network, get ` +
      `${path.basename(h5File)} (md5 ${md5}) from that URL elsewhere and save it in ${path.dirname(h5File)}: ` +
      `it is then converted into ${cacheDir} instead of downloaded`,
  );
}

/** Streams the URL to <h5File>.part while hashing it, then renames it to h5File once the md5 matches. */
async function download(target: DownloadTarget): Promise<void> {
  const { url, md5, h5File, onProgress, signal } = target;
  let response: Response;
  try {
    response = await fetch(url, { signal });
  } catch (error) {
    if (signal?.aborted) throw abortedError();
    throw downloadFailed(target, `${describeFetchError(error)}; offline?`);
  }
  if (!response.ok || !response.body) {
    await response.body?.cancel();
    throw downloadFailed(target, `HTTP ${response.status} ${response.statusText}`);
  }
  const totalBytes = Number(response.headers.get('content-length')) || undefined;
  const partFile = `${h5File}.part`;
  await mkdir(path.dirname(h5File), { recursive: true });
  const out = await open(partFile, 'w');
  const hash = createHash('md5');
  let receivedBytes = 0;
  try {
    const reader = response.body.getReader();
    for (;;) {
      let chunk: { done: boolean; value?: Uint8Array };
      try {
        chunk = await reader.read();
      } catch (error) {
        if (signal?.aborted) throw abortedError();
        throw downloadFailed(target, `connection lost after ${receivedBytes} bytes: ${describeFetchError(error)}`);
      }
      if (chunk.done || !chunk.value) break;
      hash.update(chunk.value);
      await out.write(chunk.value);
      receivedBytes += chunk.value.byteLength;
      onProgress?.({ stage: 'download', receivedBytes, totalBytes });
    }
  } catch (error) {
    await out.close();
    await rm(partFile, { force: true });
    throw error;
  }
  await out.close();
  const actual = hash.digest('hex');
  if (actual !== md5) {
    await rm(partFile, { force: true });
    throw new WeightsInvalidError(`${url} downloaded with md5 ${actual}, expected ${md5} (corrupted download or a different file); deleted it`);
  }
  await rename(partFile, h5File);
}

/**
 * Gets the Keras VGG19 .h5 (from downloadsDir when it is already there with the right md5, otherwise by download)
 * and converts it into cacheDir. Returns cacheDir.
 */
export async function fetchVggWeights(options: FetchVggWeightsOptions = {}): Promise<string> {
  const url = options.url ?? process.env.GRAMIAN_VGG19_URL ?? KERAS_VGG19.url;
  const md5 = options.md5 ?? KERAS_VGG19.md5;
  const cacheDir = path.resolve(options.cacheDir ?? vggCacheDir());
  const h5File = path.join(path.resolve(options.downloadsDir ?? path.join(cacheRoot(), 'downloads')), KERAS_VGG19.file);
  if (options.signal?.aborted) throw abortedError();
  if (existsSync(h5File)) {
    const actual = await md5OfFile(h5File);
    // Only a finished, verified download is ever renamed to h5File, so a mismatch is a file put there by hand.
    if (actual !== md5) throw new WeightsInvalidError(`${h5File} has md5 ${actual}, expected ${md5}: it is not the Keras VGG19 notop weights file; delete or replace it`);
  } else {
    await download({ url, md5, h5File, cacheDir, onProgress: options.onProgress, signal: options.signal });
  }
  if (options.signal?.aborted) throw abortedError();
  await convertKerasVgg19(h5File, cacheDir, { sourceUrl: url, onProgress: options.onProgress });
  return cacheDir;
}

/**
 * The VGG19 weights folder to use: the first one found on the search path (explicitDir or GRAMIAN_WEIGHTS, then
 * the cache), else freshly fetched into the cache. A named folder without weights is an error, not a reason to
 * download elsewhere.
 */
export async function ensureVggWeights(options: EnsureVggWeightsOptions = {}): Promise<string> {
  const found = locateVggWeights(options.explicitDir);
  if (found) return found;
  const named = options.explicitDir ?? process.env.GRAMIAN_WEIGHTS;
  if (named) {
    const folder = path.resolve(named);
    const problem = existsSync(folder) ? `is missing ${MANIFEST_NAMES.join(' or ')}` : 'does not exist';
    throw new WeightsMissingError(folder, WEIGHTS_COMMAND, `the VGG19 weights folder ${folder} ${problem}`);
  }
  if (options.allowDownload === false) {
    throw new WeightsMissingError(vggCacheDir(), WEIGHTS_COMMAND, `no VGG19 weights in ${vggCacheDir()} and downloading is disabled`);
  }
  return fetchVggWeights({ onProgress: options.onProgress, signal: options.signal });
}
