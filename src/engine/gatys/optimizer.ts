// The optimiser a Gatys run uses to move the pixels, chosen by name.
import { Adam } from './adam.js';
import { Lbfgs } from './lbfgs.js';
import type { GatysOptions } from './params.js';

/** One update of the image from the gradient at it; implementations keep their own state between calls. */
export interface PixelOptimizer {
  step(x: Float32Array, gradient: Float32Array): void;
}

export function createOptimizer(
  options: Pick<GatysOptions, 'optimizer' | 'learningRate' | 'lbfgsHistory'>,
): PixelOptimizer {
  return options.optimizer === 'adam'
    ? new Adam(options.learningRate)
    : new Lbfgs(options.lbfgsHistory, options.learningRate);
}
