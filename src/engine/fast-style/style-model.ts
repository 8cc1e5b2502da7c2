// Loading a fast-style model: check the (architecture, format) pair, read the files, build the network.
import { buildEngstromNet, type EngstromOptions } from './engstrom-net.js';
import { loadMl5Checkpoint } from './ml5-checkpoint.js';
import { checkModelSource } from './model-source.js';
import { loadNcnnModel } from './ncnn.js';
import { buildPytorchNet, type PytorchOptions } from './pytorch-net.js';
import type { StyleModel, StyleModelSource } from './types.js';

export type LoadStyleModelOptions = EngstromOptions & PytorchOptions;

/** Reads and checks a model and makes its weight tensors. The caller disposes it. */
export async function loadStyleModel(
  input: StyleModelSource,
  options: LoadStyleModelOptions = {},
): Promise<StyleModel> {
  const source = checkModelSource(input);
  if (source.format === 'ml5-checkpoint') {
    const variables = await loadMl5Checkpoint(source.path);
    return buildEngstromNet(variables, source.path, options);
  }
  const model = await loadNcnnModel(source.path);
  return buildPytorchNet(model, source.path, options);
}
