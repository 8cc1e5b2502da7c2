// Tiled fast style: an output too large for one pass (or tiled on request) is stylised in overlapping tiles, every
// tile normalised with the whole image's instance-norm statistics rather than its own, so that the tiles put together
// are the single pass the backend cannot hold.
//
// Why a tile's core equals the whole-image pass, given the same statistics: tile origins are multiples of 4, so the
// two stride-2 convolutions and the two upsamplings of both networks fall on the whole image's grid; a tile's end is
// its origin plus a length ≡ the image's length (mod 4), so 'same' padding (Engstrom) pads the two alike; and a tile
// reaches TILE_HALO pixels past its core on each side (more than the networks' receptive-field radius), so the core
// never sees the tile's own border. Tiles at the image's border extend to it and see the image's own padding.
//
// The statistics of norm k over the whole image depend on those the norms before it used, and the networks are very
// sensitive to them (see fast-transfer.ts: approximate ones are visibly off), so they are made exact norm by norm:
// pass k normalises norms 0 … k−1 with the statistics already measured, measures norm k's input over the tiles'
// cores (combined in float64 with Chan et al.'s parallel formula) and stops there; a last pass makes the output.
import * as tf from '@tensorflow/tfjs';
import { TransferAbortedError } from '../errors.js';
import type { RgbImage } from '../image/index.js';
import type { InstanceNormHook, NormStatistics, StyleModel } from './types.js';

/**
 * Pixels of context a tile has beyond its core on each side: at least the networks' receptive-field radius and a
 * multiple of 4. Measured (383² in 3×3 tiles, exact statistics): cores differ from the single pass with halos of 40
 * and 48 px (up to 5 and 2 levels), are identical from 56 px for both networks.
 */
export const TILE_HALO = 64;

/** [start, end) along one axis, in output pixels. */
export interface Span {
  start: number;
  end: number;
}

/** One tile along one axis: the part of the output it makes (core) and the part of the input it reads (span). */
export interface AxisTile {
  core: Span;
  span: Span;
}

export interface Tile {
  x: AxisTile;
  y: AxisTile;
}

export interface TilePlan {
  width: number;
  height: number;
  columns: AxisTile[];
  rows: AxisTile[];
  tiles: Tile[];
}

/**
 * `length` cut into `count` cores of nearly equal length whose inner borders are multiples of 4, each with its span:
 * the core widened by `halo` on each side, its end then moved to ≡ length (mod 4), all clipped to [0, length).
 */
export function splitAxis(length: number, count: number, halo = TILE_HALO): AxisTile[] {
  const borders = Array.from({ length: count + 1 }, (_, i) =>
    i === 0 ? 0 : i === count ? length : 4 * Math.round((i * length) / (4 * count)),
  );
  const tiles: AxisTile[] = [];
  for (let i = 0; i < count; i++) {
    const start = borders[i]!;
    const end = borders[i + 1]!;
    const spanEnd = end === length ? length : Math.min(length, end + halo + (length % 4));
    tiles.push({ core: { start, end }, span: { start: Math.max(0, start - halo), end: spanEnd } });
  }
  return tiles;
}

const coreLength = (t: AxisTile) => t.core.end - t.core.start;
const spanLength = (t: AxisTile) => t.span.end - t.span.start;

/** Fewest tiles along an axis whose cores are at most maxCore (and non-empty). */
function splitAxisWithin(length: number, maxCore: number, halo: number): AxisTile[] {
  for (let count = Math.ceil(length / maxCore); ; count++) {
    const tiles = splitAxis(length, count, halo);
    if (tiles.every((t) => coreLength(t) <= maxCore && coreLength(t) > 0)) return tiles;
  }
}

/** Smallest core a tile may have: below it the halo is most of the work. */
export const MIN_TILE_CORE = 64;

function plan(width: number, height: number, columns: AxisTile[], rows: AxisTile[]): TilePlan {
  return { width, height, columns, rows, tiles: rows.flatMap((y) => columns.map((x) => ({ x, y }))) };
}

/**
 * The tiles of a width × height output: cores of at most tileSize a side when it is given; otherwise the tiles with
 * the least work (pixels of all spans) whose spans each hold at most maxPixels pixels. Undefined when even
 * MIN_TILE_CORE cores do not fit in maxPixels.
 */
export function planTiles(
  width: number,
  height: number,
  limits: { tileSize?: number; maxPixels: number },
  halo = TILE_HALO,
): TilePlan | undefined {
  if (limits.tileSize) {
    return plan(
      width,
      height,
      splitAxisWithin(width, limits.tileSize, halo),
      splitAxisWithin(height, limits.tileSize, halo),
    );
  }
  // Every column count, each with the fewest rows that fit; the least work (halos included), then the fewest tiles.
  let best: { plan: TilePlan; count: number; work: number } | undefined;
  const split = (length: number, count: number) => {
    const tiles = splitAxis(length, count, halo);
    const cores = tiles.map(coreLength);
    return count === 1 || Math.min(...cores) >= MIN_TILE_CORE ? tiles : undefined;
  };
  for (let nx = 1; ; nx++) {
    const columns = split(width, nx);
    if (!columns) break;
    const spanWidth = Math.max(...columns.map(spanLength));
    for (let ny = 1; ; ny++) {
      const rows = split(height, ny);
      if (!rows) break;
      if (spanWidth * Math.max(...rows.map(spanLength)) > limits.maxPixels) continue;
      const work = columns.reduce((s, c) => s + spanLength(c), 0) * rows.reduce((s, r) => s + spanLength(r), 0);
      if (!best || work < best.work || (work === best.work && nx * ny < best.count))
        best = { plan: plan(width, height, columns, rows), count: nx * ny, work };
      break;
    }
  }
  return best?.plan;
}

/** Thrown by the hook once the measured norm has been seen: the rest of the tile's pass is not needed. */
class EndOfPass extends Error {}

/** Whole-image statistics of each instance norm's input, by norm index: per-channel mean and variance in float64. */
export type NormTable = { mean: Float64Array; variance: Float64Array }[];

/** Per-channel count, mean and sum of squared deviations, merged group by group (Chan, Golub and LeVeque 1979). */
export class NormAccumulator {
  private readonly groups: { n: number; mean: Float64Array; m2: Float64Array }[] = [];

  /** A group of n pixels with these per-channel mean and (population) variance, in norm `index`. */
  add(index: number, n: number, mean: ArrayLike<number>, variance: ArrayLike<number>): void {
    const group = this.groups[index];
    if (!group) {
      this.groups[index] = {
        n,
        mean: Float64Array.from(mean),
        m2: Float64Array.from(variance, (v) => v * n),
      };
      return;
    }
    const total = group.n + n;
    for (let c = 0; c < group.mean.length; c++) {
      const delta = mean[c]! - group.mean[c]!;
      group.mean[c] = group.mean[c]! + (delta * n) / total;
      group.m2[c] = group.m2[c]! + variance[c]! * n + (delta * delta * group.n * n) / total;
    }
    group.n = total;
  }

  table(): NormTable {
    return this.groups.map((g) => ({ mean: g.mean.slice(), variance: g.m2.map((m2) => m2 / g.n) }));
  }
}

/** The rows and columns of image within a tile's span, as float32 RGB (what a pass takes). */
function cropRgb(image: RgbImage, x: Span, y: Span): Float32Array {
  const w = x.end - x.start;
  const out = new Float32Array(w * (y.end - y.start) * 3);
  for (let row = y.start; row < y.end; row++) {
    const from = (row * image.width + x.start) * 3;
    out.set(image.data.subarray(from, from + w * 3), (row - y.start) * w * 3);
  }
  return out;
}

/** Region of a norm input ([1,h,w,C] at `scale`) that the tile's core covers: offsets, then sizes. */
function coreRegion(tile: Tile, plan: TilePlan, x: tf.Tensor4D, scale: number): [number, number, number, number] {
  const [, h, w] = x.shape;
  // Inner borders and span starts are multiples of 4, so the offsets are exact at every scale; a core that reaches
  // the image's end takes everything the layer has there (the networks round sizes up at the stride-2 layers).
  const top = (tile.y.core.start - tile.y.span.start) / scale;
  const left = (tile.x.core.start - tile.x.span.start) / scale;
  const bottom = tile.y.core.end === plan.height ? h : (tile.y.core.end - tile.y.span.start) / scale;
  const right = tile.x.core.end === plan.width ? w : (tile.x.core.end - tile.x.span.start) / scale;
  return [top, left, bottom - top, right - left];
}

export interface TiledPassOptions {
  /**
   * Statistics to normalise every tile with, by norm index; a norm without an entry uses the tile's own (right only
   * for a single whole-image tile).
   */
  statistics?: NormTable;
  /**
   * Measure norm `measure`'s input over the tiles' cores and return its whole-image statistics; each tile's pass ends
   * there (nothing after that norm is computed).
   */
  measure?: number;
  /**
   * Make the output: given the stylized core and the content core ([1,h,w,3], 0..255), returns the pixels to keep
   * (rounded and clipped to 0..255). Runs inside a tf.tidy.
   */
  finish?: (stylized: tf.Tensor4D, content: tf.Tensor4D) => tf.Tensor4D;
  /** Polled before each tile and, through the pass, between layers. */
  stopped: () => boolean;
}

export interface TiledPassResult {
  /** The measured norm's statistics (at its index). */
  statistics?: NormTable;
  /** Interleaved RGB of the whole output when `finish` was given. */
  pixels?: Uint8Array;
}

/**
 * One pass over the tiles of `plan`, on `image` (the content at the plan's size), one tile on the backend at a time:
 * every tensor of a tile is freed before the next starts, and whatever the way the pass ends.
 */
export async function tiledPass(
  model: StyleModel,
  image: RgbImage,
  plan: TilePlan,
  options: TiledPassOptions,
): Promise<TiledPassResult> {
  const measure = options.measure;
  const accumulator = measure !== undefined ? new NormAccumulator() : undefined;
  const pixels = options.finish ? new Uint8Array(plan.width * plan.height * 3) : undefined;
  const given: (NormStatistics | undefined)[] = [];
  for (const [index, s] of (options.statistics ?? []).entries()) {
    if (!s) continue;
    given[index] = {
      mean: tf.tensor1d(Float32Array.from(s.mean)),
      variance: tf.tensor1d(Float32Array.from(s.variance)),
    };
  }
  try {
    for (const tile of plan.tiles) {
      if (options.stopped()) throw new TransferAbortedError();
      const { x, y } = tile;
      const observed: { index: number; n: number; mean: tf.Tensor; variance: tf.Tensor }[] = [];
      let kept: tf.Tensor4D | undefined;
      try {
        const hook: InstanceNormHook = {};
        if (given.length) hook.statistics = (index) => given[index];
        if (accumulator) {
          hook.observe = (index, activation, scale) => {
            if (index !== measure) return;
            const [top, left, rows, cols] = coreRegion(tile, plan, activation, scale);
            const [mean, variance] = tf.tidy((): [tf.Tensor, tf.Tensor] => {
              const [, h, w, c] = activation.shape;
              const region =
                rows === h && cols === w ? activation : tf.slice(activation, [0, top, left, 0], [1, rows, cols, c]);
              const m = tf.avgPool(region, [rows, cols], 1, 'valid');
              const v = tf.avgPool(tf.squaredDifference<tf.Tensor4D>(region, m), [rows, cols], 1, 'valid');
              return [tf.reshape(m, [c]), tf.reshape(v, [c])];
            });
            observed.push({ index, n: rows * cols, mean: tf.keep(mean), variance: tf.keep(variance) });
            throw new EndOfPass();
          };
        }
        const spanWidth = x.span.end - x.span.start;
        const spanHeight = y.span.end - y.span.start;
        const input = tf.tensor4d(cropRgb(image, x.span, y.span), [1, spanHeight, spanWidth, 3]);
        try {
          let stylized: tf.Tensor4D | undefined;
          try {
            stylized = model.stylize(input, { interrupt: options.stopped, norm: hook });
          } catch (error) {
            // The measured norm was reached: this tile's part of the pass is done.
            if (!(error instanceof EndOfPass)) throw error;
          }
          if (stylized) {
            const out = stylized;
            try {
              if (options.finish) {
                const finish = options.finish;
                kept = tf.tidy(() => {
                  const begin = [0, y.core.start - y.span.start, x.core.start - x.span.start, 0];
                  const size = [1, y.core.end - y.core.start, x.core.end - x.core.start, 3];
                  return finish(tf.slice(out, begin, size), tf.slice(input, begin, size));
                });
              }
            } finally {
              out.dispose();
            }
          }
        } finally {
          input.dispose();
        }
        // Read back asynchronously (a GPU backend computes while this waits).
        for (const o of observed) {
          const [mean, variance] = await Promise.all([o.mean.data(), o.variance.data()]);
          accumulator!.add(o.index, o.n, mean, variance);
        }
        if (kept && pixels) {
          const data = await kept.data();
          const w = x.core.end - x.core.start;
          for (let row = y.core.start; row < y.core.end; row++) {
            const from = (row - y.core.start) * w * 3;
            pixels.set(data.subarray(from, from + w * 3), (row * plan.width + x.core.start) * 3);
          }
        }
      } finally {
        for (const o of observed) tf.dispose([o.mean, o.variance]);
        kept?.dispose();
      }
    }
  } finally {
    for (const s of given) if (s) tf.dispose([s.mean, s.variance]);
  }
  return { ...(accumulator ? { statistics: accumulator.table() } : {}), ...(pixels ? { pixels } : {}) };
}
