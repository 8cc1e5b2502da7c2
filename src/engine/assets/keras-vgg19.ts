// Converts the Keras applications VGG19 weights (HDF5) into a weights folder that loadVgg19 reads: a TF.js
// manifest, float32, kernels [W,H,in,out], RGB − mean input.
import { createHash } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import { mkdir, mkdtemp, open, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Dataset, Group } from 'h5wasm/node';
import type * as H5WasmNode from 'h5wasm/node';
import { WeightsInvalidError } from '../errors.js';
import type { DownloadProgress } from './download.js';
import { MANIFEST_NAMES } from './paths.js';
import { CONV_LAYERS, vgg19KernelShape } from './vgg19-layout.js';

/** The Keras applications VGG19 without the classifier; md5 as published by keras.applications. */
export const KERAS_VGG19 = {
  file: 'vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5',
  url: 'https://storage.googleapis.com/tensorflow/keras-applications/vgg19/vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5',
  md5: '253f8cb515780f3b799900260a226db6',
} as const;

export interface ConvertOptions {
  /** Recorded in SOURCE.json. */
  sourceUrl?: string;
  onProgress?: (progress: DownloadProgress) => void;
}

type H5Wasm = (typeof H5WasmNode)['default'];
/** [H,W,in,out] as Keras stores a kernel. */
type Hwio = [number, number, number, number];

const MANIFEST_FILE = MANIFEST_NAMES[0];
const HDF5_SIGNATURE = Buffer.from([0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a]);

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
  if (layerNames.length === 0)
    throw new WeightsInvalidError(`${h5Path} is not a Keras weights file (no layer_names attribute)`);
  const problems: string[] = [];
  const convs: KerasConv[] = [];
  CONV_LAYERS.forEach((name) => {
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
    // Square 3×3 kernels: [W,H,in,out] and Keras's [H,W,in,out] have the same shape.
    const wantKernel: Hwio = vgg19KernelShape(name);
    const outChannels = wantKernel[3];
    if (!kernel || !bias) problems.push(`${layer} has no ${kernel ? '1-D bias' : '4-D kernel'} among its weight_names`);
    else if (kernel.shape!.join(',') !== wantKernel.join(','))
      problems.push(`${layer} kernel has shape [${String(kernel.shape)}], expected [${wantKernel.join(',')}]`);
    else if (bias.shape![0] !== outChannels)
      problems.push(`${layer} bias has shape [${String(bias.shape)}], expected [${outChannels}]`);
    else convs.push({ name, kernel, bias, kernelShape: wantKernel });
  });
  if (problems.length > 0)
    throw new WeightsInvalidError(`${h5Path} does not hold the Keras VGG19 conv layers: ${problems.join('; ')}`);
  return convs;
}

function float32Values(dataset: Dataset, h5Path: string): Float32Array {
  const value = dataset.value;
  if (value instanceof Float32Array) return value;
  if (value instanceof Float64Array) return Float32Array.from(value);
  throw new WeightsInvalidError(
    `${h5Path}: ${dataset.path} has dtype ${JSON.stringify(dataset.dtype)}, expected float32`,
  );
}

/**
 * HWIO → [W,H,in,out] (swap the spatial axes). With reverseInput the input channels are reversed too, which turns
 * Keras's BGR first layer into the RGB one our convention expects.
 */
function toWhioKernel(
  hwio: Float32Array,
  [height, width, inChannels, outChannels]: Hwio,
  reverseInput: boolean,
): Float32Array {
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

export async function md5OfFile(file: string): Promise<string> {
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
      const bytes = Buffer.concat([
        Buffer.from(kernel.buffer, kernel.byteOffset, kernel.byteLength),
        Buffer.from(bias.buffer, bias.byteOffset, bias.byteLength),
      ]);
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
      network:
        'VGG19 (ImageNet, Simonyan & Zisserman; weights CC BY 4.0), conv1_1…conv5_4, ' +
        'from the Keras applications notop weights',
      source: { file: path.basename(source), url: options.sourceUrl, md5: await md5OfFile(source) },
      convertedAt: new Date().toISOString(),
      layout:
        'kernels [W,H,in,out] (Keras HWIO with H and W swapped); ' +
        'conv1_1 input channels reversed from Keras BGR to RGB; ' +
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
