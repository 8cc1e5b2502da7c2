// The plan of a Gatys run past one pass's reach: which scales run whole and which are refined in overlapping tiles,
// where the tiles fall, and the feathered blend that puts each tile back. Plain arrays, no tensors: an image at a
// tiled scale lives on the CPU (4096² × 3 float32 is 192 MiB) and only one tile at a time goes to the backend.
import { fitLongestSide, largestSideWithin } from '../image/geometry.js';
import { LIMITS, scaleSizes, type GatysOptions } from './params.js';

/** A rectangle of the image, in pixels: columns x0..x0+width−1, rows y0..y0+height−1. */
export interface TileRect {
  x0: number;
  y0: number;
  width: number;
  height: number;
}

/** One scale of a run: its output size, and its tiles when it is refined in tiles (absent: the whole image). */
export interface ScalePlan {
  /** Longest side. */
  size: number;
  width: number;
  height: number;
  tiles?: TileRect[];
}

/** Every scale of a run, coarse to fine, and the steps each takes (tiled: steps × tiles × passes). */
export interface RunPlan {
  scales: ScalePlan[];
  /** Index of each scale's first step over the whole run (0-based), then the run's total. */
  firstSteps: number[];
  totalSteps: number;
  steps: number;
  passes: number;
}

/** Where a step of the run falls: its scale and, at a tiled scale, its pass, tile and step within the tile. */
export interface StepPosition {
  scale: number;
  /** Steps done in this tile (or whole scale) before this one. */
  inner: number;
  tile?: number;
  pass?: number;
}

/**
 * A tile overlaps its neighbours by this fraction of its side (at least MIN_OVERLAP px): the band where one hands over
 * to the other (featherWeights).
 */
const OVERLAP_FRACTION = 1 / 4;
const MIN_OVERLAP = 16;

/** Tiles overlapping by `overlap` along one axis of `length` pixels, each at most `tile` long, evenly spread. */
function axisTiles(length: number, tile: number, overlap: number): { start: number; length: number }[] {
  if (length <= tile) return [{ start: 0, length }];
  const count = Math.ceil((length - overlap) / (tile - overlap));
  const side = Math.min(tile, Math.ceil((length + (count - 1) * overlap) / count));
  return Array.from({ length: count }, (_, i) => ({
    start: Math.round((i * (length - side)) / (count - 1)),
    length: side,
  }));
}

/** The overlap of tiles of this side. */
export function tileOverlap(side: number): number {
  return Math.max(MIN_OVERLAP, Math.round(side * OVERLAP_FRACTION));
}

/** Tiles of at most `tileSide` pixels a side covering width × height, overlapping by tileOverlap(tileSide). */
export function tileGrid(width: number, height: number, tileSide: number): TileRect[] {
  const overlap = tileOverlap(tileSide);
  const columns = axisTiles(width, tileSide, overlap);
  const rows = axisTiles(height, tileSide, overlap);
  return rows.flatMap((row) =>
    columns.map((column) => ({ x0: column.start, y0: row.start, width: column.length, height: row.length })),
  );
}

/**
 * The scales of a run. Scales that fit the backend's single pass (`maxPixels`) and the forced tile size run whole;
 * larger ones are refined in tiles. When even the coarsest asked-for scale does not fit, coarser ones are put in front
 * (each half the next) down to one that does, so that the first tiled scale starts from a whole-image result.
 */
export function planRun(
  content: { width: number; height: number },
  options: Pick<GatysOptions, 'size' | 'scales' | 'steps' | 'tileSize' | 'tilePasses'>,
  maxPixels: number,
): RunPlan {
  const fits = (size: number) => {
    const { width, height } = fitLongestSide(content.width, content.height, size);
    return width * height <= maxPixels;
  };
  let sizes = scaleSizes(options.size, options.scales);
  while (!fits(sizes[0]!) && Math.round(sizes[0]! / 2) >= LIMITS.size.min)
    sizes = [Math.round(sizes[0]! / 2), ...sizes];
  const side = Math.min(
    options.tileSize > 0 ? options.tileSize : Number.POSITIVE_INFINITY,
    Math.floor(Math.sqrt(maxPixels)),
  );
  const scales = sizes.map((size): ScalePlan => {
    const { width, height } = fitLongestSide(content.width, content.height, size);
    const whole = width * height <= maxPixels && Math.max(width, height) <= side;
    return whole ? { size, width, height } : { size, width, height, tiles: tileGrid(width, height, side) };
  });
  const firstSteps: number[] = [];
  let total = 0;
  for (const scale of scales) {
    firstSteps.push(total);
    total += options.steps * (scale.tiles ? scale.tiles.length * options.tilePasses : 1);
  }
  return { scales, firstSteps, totalSteps: total, steps: options.steps, passes: options.tilePasses };
}

/** The largest longest side whose tiles still fit, for error messages. */
export function largestTileSide(content: { width: number; height: number }, maxPixels: number): number {
  return largestSideWithin(content.width, content.height, maxPixels);
}

/** Where step `step` (0-based: the steps done before it) falls in the plan. */
export function positionOf(plan: RunPlan, step: number): StepPosition {
  let scale = plan.scales.length - 1;
  while (scale > 0 && plan.firstSteps[scale]! > step) scale--;
  const local = step - plan.firstSteps[scale]!;
  const tiles = plan.scales[scale]!.tiles;
  if (!tiles) return { scale, inner: local };
  const perPass = plan.steps * tiles.length;
  return {
    scale,
    pass: Math.floor(local / perPass),
    tile: Math.floor((local % perPass) / plan.steps),
    inner: local % plan.steps,
  };
}

/** A plan's shape as a checkpoint records it, to tell whether a resumed run would cut its tiles the same way. */
export function planSignature(plan: RunPlan): string {
  const rect = (t: TileRect) => `${t.x0},${t.y0},${t.width},${t.height}`;
  const scales = plan.scales.map((s) => `${s.width}x${s.height}${s.tiles ? `:${s.tiles.map(rect).join(';')}` : ''}`);
  return `${scales.join('|')}/${plan.passes}`;
}

/** Smooth 0→1 ramp (smoothstep): s(t) + s(1 − t) = 1, so two tiles' ramps over one band add up to 1. */
function ramp(t: number): number {
  const c = Math.min(1, Math.max(0, t));
  return c * c * (3 - 2 * c);
}

/**
 * One axis of a tile's weights. Over the band [a, b) it shares with a neighbour, the outer quarter next to each tile's
 * edge counts nothing (a tile's pixels near its edge see VGG's zero padding instead of their neighbours, and show it),
 * and the middle half cross-fades from one tile to the other; elsewhere the tile alone counts.
 */
function axisWeights(start: number, length: number, spans: { start: number; length: number }[]): Float32Array {
  const index = spans.findIndex((s) => s.start === start && s.length === length);
  const before = spans[index - 1];
  const after = spans[index + 1];
  const fade = (position: number, a: number, b: number) => {
    const margin = (b - a) / 4;
    return ramp((position - a - margin) / (b - a - 2 * margin));
  };
  return Float32Array.from({ length }, (_, i) => {
    const position = start + i + 0.5;
    const fromBefore = before ? fade(position, start, before.start + before.length) : 1;
    const intoAfter = after ? 1 - fade(position, after.start, start + length) : 1;
    return Math.min(fromBefore, intoAfter);
  });
}

/**
 * Per-pixel weights of one tile of a grid. Over a pass the weights of all the tiles add up to exactly 1 at every
 * pixel, so the image after a pass is Σ weight·tile: each tile counts alone away from its edges and hands over to its
 * neighbour smoothly in the middle of the band they share.
 */
export function featherWeights(tile: TileRect, tiles: TileRect[]): Float32Array {
  const spans = (key: 'x0' | 'y0', size: 'width' | 'height') =>
    [...new Map(tiles.map((t) => [t[key], { start: t[key], length: t[size] }])).values()].sort(
      (a, b) => a.start - b.start,
    );
  const wx = axisWeights(tile.x0, tile.width, spans('x0', 'width'));
  const wy = axisWeights(tile.y0, tile.height, spans('y0', 'height'));
  const weights = new Float32Array(tile.width * tile.height);
  for (let y = 0; y < tile.height; y++) {
    for (let x = 0; x < tile.width; x++) weights[y * tile.width + x] = wy[y]! * wx[x]!;
  }
  return weights;
}

/** An H×W×C image held on the CPU, row-major, channels interleaved. */
export interface PlaneImage<Data extends Float32Array | Uint8Array = Float32Array> {
  data: Data;
  width: number;
  height: number;
  channels: number;
}

/** The pixels of one rectangle, as a new image. */
export function cropPlane<Data extends Float32Array | Uint8Array>(
  image: PlaneImage<Data>,
  rect: TileRect,
): PlaneImage<Data> {
  const { channels } = image;
  const data = image.data.slice(0, rect.width * rect.height * channels) as Data;
  for (let y = 0; y < rect.height; y++) {
    const from = ((rect.y0 + y) * image.width + rect.x0) * channels;
    data.set(image.data.subarray(from, from + rect.width * channels), y * rect.width * channels);
  }
  return { data, width: rect.width, height: rect.height, channels };
}

/**
 * image ← image + weights·(tile − base) over the tile's rectangle, `base` being the image as the pass found it: after
 * every tile of a pass, the image is Σ weights·tile (featherWeights add up to 1), whatever order they came in.
 */
export function blendInto(
  image: PlaneImage,
  base: Float32Array,
  tile: PlaneImage,
  rect: TileRect,
  weights: Float32Array,
): void {
  const { channels } = image;
  for (let y = 0; y < rect.height; y++) {
    const row = ((rect.y0 + y) * image.width + rect.x0) * channels;
    for (let x = 0; x < rect.width; x++) {
      const w = weights[y * rect.width + x]!;
      if (w === 0) continue;
      for (let c = 0; c < channels; c++) {
        const at = row + x * channels + c;
        image.data[at] = image.data[at]! + w * (tile.data[(y * rect.width + x) * channels + c]! - base[at]!);
      }
    }
  }
}
