// Where VGG19 weights live and how they are read. A weights folder holds a TF.js weights manifest
// (tfjs_weights_manifest.json or weights_manifest.json) whose kernels are [W,H,in,out] and expect RGB − mean.
import * as tf from '@tensorflow/tfjs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { WeightsInvalidError, WeightsMissingError } from '../errors.js';
import { vgg19KernelShape } from '../assets/vgg19-layout.js';
import { CONV_LAYERS, Vgg19 } from './vgg19.js';
import { MANIFEST_NAMES, WEIGHTS_COMMAND, findManifest } from '../assets/paths.js';

interface ManifestGroup {
  paths: string[];
  weights: tf.io.WeightsManifestEntry[];
}

/** Reads every tensor of a weights-manifest folder. */
export async function readWeightsFolder(folder: string): Promise<tf.NamedTensorMap> {
  const manifestFile = findManifest(folder);
  if (!manifestFile)
    throw new WeightsMissingError(folder, WEIGHTS_COMMAND, `no ${MANIFEST_NAMES.join(' or ')} in ${folder}`);
  let groups: ManifestGroup[];
  try {
    groups = JSON.parse(await readFile(manifestFile, 'utf8')) as ManifestGroup[];
    if (!Array.isArray(groups)) throw new Error('not an array of weight groups');
  } catch (error) {
    throw new WeightsInvalidError(`${manifestFile} is not a TF.js weights manifest: ${(error as Error).message}`);
  }
  const tensors: tf.NamedTensorMap = {};
  try {
    for (const group of groups) {
      const buffers = await Promise.all(group.paths.map((p) => readFile(path.join(folder, p))));
      const joined = Buffer.concat(buffers);
      const data = joined.buffer.slice(joined.byteOffset, joined.byteOffset + joined.byteLength);
      Object.assign(tensors, tf.io.decodeWeights(data, group.weights));
    }
  } catch (error) {
    Object.values(tensors).forEach((t) => t.dispose());
    if (error instanceof WeightsInvalidError) throw error;
    throw new WeightsInvalidError(`cannot read weights in ${folder}: ${(error as Error).message}`);
  }
  return tensors;
}

/** Loads VGG19 from a weights folder, checking that every layer is there with the right shape. */
export async function loadVgg19(folder: string): Promise<Vgg19> {
  const tensors = await readWeightsFolder(folder);
  for (const name of CONV_LAYERS) {
    const kernel = tensors[`${name}/kernel`];
    const want = vgg19KernelShape(name);
    const problem = !kernel
      ? `${name}/kernel is missing`
      : kernel.shape.join(',') !== want.join(',')
        ? `${name}/kernel has shape [${kernel.shape.join(',')}], expected [${want.join(',')}]`
        : tensors[`${name}/bias`]?.shape[0] !== want[3]
          ? `${name}/bias is missing or has the wrong size`
          : undefined;
    if (problem) {
      Object.values(tensors).forEach((t) => t.dispose());
      throw new WeightsInvalidError(`${folder} does not hold VGG19 conv1_1…conv5_4: ${problem}`);
    }
  }
  return Vgg19.fromNamedTensors(tensors, folder);
}
