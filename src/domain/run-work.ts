// The work of one run in pixel-steps, what MAX_RUN_WORK caps for non-admins. A GATYS step costs about in proportion
// to the pixels it optimises (VGG19 forwards and backwards at that size), so a run's work is the sum over its scales
// of the output pixels at that scale times the steps per scale; a FAST run is one forward pass: its output pixels.
import { LIMITS, fitLongestSide, scaleSizes } from '../engine/index.js';

interface Dimensions {
  width: number;
  height: number;
}

/** Output pixels at each scale (coarsest first) of a GATYS run on content of this shape. */
export function scalePixels(content: Dimensions, size: number, scales: number): number[] {
  return scaleSizes(size, scales).map((side) => {
    const fitted = fitLongestSide(content.width, content.height, side);
    return fitted.width * fitted.height;
  });
}

/** The pixel-steps of a GATYS run: Σ over its scales of (output pixels at that scale × steps). */
export function gatysWork(content: Dimensions, params: { size: number; scales: number; steps: number }): number {
  return scalePixels(content, params.size, params.scales).reduce((sum, pixels) => sum + pixels * params.steps, 0);
}

/** The pixel-steps of a FAST run: its output pixels, once. */
export function fastWork(output: Dimensions): number {
  return output.width * output.height;
}

/** The most steps a GATYS run at this size may take within maxWork; 0 when not even one fits. */
export function largestStepsWithin(
  content: Dimensions,
  params: { size: number; scales: number },
  maxWork: number,
): number {
  return Math.floor(maxWork / gatysWork(content, { ...params, steps: 1 }));
}

/** The largest size under params.size at which a GATYS run of these steps fits within maxWork; undefined if none. */
export function largestSizeWithin(
  content: Dimensions,
  params: { size: number; scales: number; steps: number },
  maxWork: number,
): number | undefined {
  // Rounding at each scale makes the work only nearly monotonic in the size: walk down rather than bisect.
  for (let size = params.size - 1; size >= LIMITS.size.min; size--) {
    if (gatysWork(content, { ...params, size }) <= maxWork) return size;
  }
  return undefined;
}
