// The work of a run in pixel-steps, what MAX_RUN_WORK caps: pure arithmetic on the output sizes of each scale.
import { describe, expect, it } from 'vitest';
import { fastWork, gatysWork, largestSizeWithin, largestStepsWithin, scalePixels } from '../src/domain/run-work.js';

/** 1200×1528 (portrait): at size 64 the output is 50×64. */
const portrait = { width: 1200, height: 1528 };
const square = { width: 1000, height: 1000 };

describe('run work', () => {
  it('sums output pixels × steps over the scales of a GATYS run', () => {
    expect(scalePixels(portrait, 64, 1)).toEqual([50 * 64]);
    // Coarsest first: 32 px (25×32), then 64 px.
    expect(scalePixels(portrait, 64, 2)).toEqual([25 * 32, 50 * 64]);
    expect(gatysWork(portrait, { size: 64, scales: 2, steps: 10 })).toBe((800 + 3200) * 10);
    // 768 px over 3 scales, 200 steps each, on a square image.
    expect(gatysWork(square, { size: 768, scales: 3, steps: 200 })).toBe((192 ** 2 + 384 ** 2 + 768 ** 2) * 200);
  });

  it('counts a tiled scale as every tile it optimises, overlaps and passes included', () => {
    // 1536² on wasm (768² in one pass): 768² whole, then 3×3 tiles of 640² (192 px overlaps).
    const wasm = 768 * 768;
    expect(gatysWork(square, { size: 1536, scales: 1, steps: 10 }, wasm)).toBe((768 ** 2 + 9 * 640 ** 2) * 10);
    expect(gatysWork(square, { size: 1536, scales: 1, steps: 10, tilePasses: 2 }, wasm)).toBe(
      (768 ** 2 + 2 * 9 * 640 ** 2) * 10,
    );
    // A forced tile size tiles even where the backend holds the whole image.
    expect(gatysWork(square, { size: 256, scales: 1, steps: 1, tileSize: 128 })).toBeGreaterThan(256 ** 2);
  });

  it('counts a FAST run’s output pixels once', () => {
    expect(fastWork({ width: 603, height: 768 })).toBe(463_104);
  });

  it('names the most steps that fit, and the largest size when not even one step does', () => {
    expect(largestStepsWithin(portrait, { size: 64, scales: 1 }, 200_000)).toBe(62);
    expect(gatysWork(portrait, { size: 64, scales: 1, steps: 62 })).toBeLessThanOrEqual(200_000);
    expect(gatysWork(portrait, { size: 64, scales: 1, steps: 63 })).toBeGreaterThan(200_000);
    expect(largestStepsWithin(portrait, { size: 64, scales: 2 }, 200_000)).toBe(50);
    expect(largestStepsWithin(portrait, { size: 512, scales: 1 }, 200_000)).toBe(0);
    // 396×504 = 199,584 fits; 397×505 does not.
    expect(largestSizeWithin(portrait, { size: 512, scales: 1, steps: 1 }, 200_000)).toBe(504);
    expect(largestSizeWithin(portrait, { size: 512, scales: 1, steps: 1000 }, 200_000)).toBeUndefined();
  });
});
