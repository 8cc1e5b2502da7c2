// Bad parameters are refused before any work, with the field and the valid values in the error.
import { describe, expect, it } from 'vitest';
import {
  EngineInputError,
  GATYS_DEFAULTS,
  resolveTransferParams,
  scaleSizes,
  type TransferParams,
} from '../src/engine/index.js';

const image = new Uint8Array([1, 2, 3]);
const base: TransferParams = { content: image, styles: [{ image }] };

function refusal(params: Partial<TransferParams> & Record<string, unknown>): EngineInputError {
  try {
    resolveTransferParams({ ...base, ...params });
  } catch (error) {
    expect(error).toBeInstanceOf(EngineInputError);
    return error as EngineInputError;
  }
  throw new Error(`accepted ${JSON.stringify(params)}`);
}

describe('transfer parameters', () => {
  it('fills every default', () => {
    const resolved = resolveTransferParams(base);
    expect(resolved).toMatchObject({ ...GATYS_DEFAULTS, contentLayerWeights: [1], styleLayerWeights: [1, 1, 1, 1, 1] });
    expect(resolved.styles).toEqual([{ image, weight: 1 }]);
  });

  it('gives Adam its own default step size', () => {
    expect(resolveTransferParams({ ...base, optimizer: 'adam' }).learningRate).toBe(10);
    expect(resolveTransferParams({ ...base, optimizer: 'adam', learningRate: 2 }).learningRate).toBe(2);
  });

  it.each([
    [{ size: 5000 }, 'size', '32..4096'],
    [{ size: 12.5 }, 'size', '32..4096'],
    [{ steps: 0 }, 'steps', '1..5000'],
    [{ steps: Number.NaN }, 'steps', '1..5000'],
    [{ styleWeight: -1 }, 'styleWeight', '0..'],
    [{ contentWeight: Number.NaN }, 'contentWeight', '0..'],
    [{ tvWeight: Number.POSITIVE_INFINITY }, 'tvWeight', '0..'],
    [{ optimizer: 'sgd' }, 'optimizer', 'lbfgs, adam'],
    [{ pooling: 'min' }, 'pooling', 'max, avg'],
    [{ init: 'random' }, 'init', 'content, noise, image'],
    [{ init: 'image' }, 'initImage', 'JPEG'],
    [{ contentLayers: ['relu9_9'] }, 'contentLayers[0]', 'relu1_1'],
    [{ styleLayers: [] }, 'styleLayers', 'relu5_4'],
    [{ styleLayers: ['relu1_1', 'relu1_1'] }, 'styleLayers', 'relu1_1'],
    [{ styleLayerWeights: [1, 2] }, 'styleLayerWeights', undefined],
    [{ styleScale: 0 }, 'styleScale', '0.1..4'],
    [{ scales: 4, size: 128 }, 'scales', '1..3'],
    [{ previewEvery: -1 }, 'previewEvery', '0..5000'],
    [{ seed: -3 }, 'seed', '0..4294967295'],
    [{ content: new Uint8Array() }, 'content', 'JPEG'],
    [{ styles: [] }, 'styles', undefined],
    [{ styles: [{ image, weight: -0.5 }] }, 'styles[0].weight', '0..'],
    [{ styles: [{ image, weight: 0 }] }, 'styles', 'at least one weight > 0'],
  ])('refuses %j', (params, field, valid) => {
    const error = refusal(params as Record<string, unknown>);
    expect(error.field).toBe(field);
    expect(error.code).toBe('ENGINE_INPUT');
    if (valid) expect(error.message).toContain(valid);
  });

  it('halves the size per coarser scale', () => {
    expect(scaleSizes(512, 3)).toEqual([128, 256, 512]);
    expect(scaleSizes(300, 1)).toEqual([300]);
  });
});
