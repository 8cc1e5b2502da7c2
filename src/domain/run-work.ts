// The work of one run in pixel-steps, what MAX_RUN_WORK caps for non-admins. A GATYS step costs about in proportion
// to the pixels it optimises (VGG19 forwards and backwards at that size), so a run's work is the sum over its scales
// of the pixels optimised at that scale times the steps: a whole scale its output pixels, a tiled scale (past what the
// backend holds in one pass, or past tileSize) every tile's pixels, overlaps counted twice, on every pass. A FAST run
// is one forward pass: its output pixels.
import { GATYS_DEFAULTS, LIMITS, fitLongestSide, planRun, scaleSizes } from '../engine/index.js';

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

/** What the work of a GATYS run depends on; tiling defaults to the engine's (tiles only past the backend's limit). */
export interface WorkParams {
  size: number;
  scales: number;
  steps: number;
  tileSize?: number;
  tilePasses?: number;
}

/**
 * The pixel-steps of a GATYS run on a backend that holds `maxPixels` in one pass (default: no limit): Σ over the
 * scales the engine will run (tiling.ts planRun) of the pixels each step optimises × the steps.
 */
export function gatysWork(content: Dimensions, params: WorkParams, maxPixels = Number.POSITIVE_INFINITY): number {
  const plan = planRun(
    content,
    {
      tileSize: GATYS_DEFAULTS.tileSize,
      tilePasses: GATYS_DEFAULTS.tilePasses,
      ...Object.fromEntries(Object.entries(params).filter(([, v]) => v !== undefined)),
    } as Required<WorkParams>,
    maxPixels,
  );
  return plan.scales.reduce((sum, scale) => {
    const pixels = scale.tiles
      ? scale.tiles.reduce((tiles, t) => tiles + t.width * t.height, 0) * plan.passes
      : scale.width * scale.height;
    return sum + pixels * plan.steps;
  }, 0);
}

/** The pixel-steps of a FAST run: its output pixels, once. */
export function fastWork(output: Dimensions): number {
  return output.width * output.height;
}

/** The most steps a GATYS run at this size may take within maxWork; 0 when not even one fits. */
export function largestStepsWithin(
  content: Dimensions,
  params: Omit<WorkParams, 'steps'>,
  maxWork: number,
  maxPixels?: number,
): number {
  return Math.floor(maxWork / gatysWork(content, { ...params, steps: 1 }, maxPixels));
}

/** The largest size under params.size at which a GATYS run of these steps fits within maxWork; undefined if none. */
export function largestSizeWithin(
  content: Dimensions,
  params: WorkParams,
  maxWork: number,
  maxPixels?: number,
): number | undefined {
  // Rounding at each scale makes the work only nearly monotonic in the size: walk down rather than bisect.
  for (let size = params.size - 1; size >= LIMITS.size.min; size--) {
    if (gatysWork(content, { ...params, size }, maxPixels) <= maxWork) return size;
  }
  return undefined;
}
