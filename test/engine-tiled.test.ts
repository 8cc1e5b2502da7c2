// Gatys past one pass's reach: the plan of whole and tiled scales, the feathered blend, tiled style Grams, and tiled
// runs on the real VGG19 (events, tensor hygiene, no visible seams, a backend's limit forcing the tiles).
import * as tf from '@tensorflow/tfjs';
import sharp from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../src/engine/runtime/index.js';
import {
  type DoneEvent,
  EngineInputError,
  type PreviewEvent,
  type StartedEvent,
  type StepEvent,
  type TransferEvent,
  type TransferParams,
} from '../src/engine/index.js';
import {
  featherWeights,
  type GatysContext,
  gatysTransfer,
  gram,
  loadVgg19,
  planRun,
  positionOf,
  tiledGrams,
  tileGrid,
  tileOverlap,
  toVggSpace,
  type Vgg19,
} from '../src/engine/gatys/index.js';
import { VGG19_UINT8, contentImage, readShared, styleImage } from './helpers/shared.js';
import { drain } from './helpers/events.js';

const options = { size: 1536, scales: 1, steps: 10, tileSize: 0, tilePasses: 1 };

describe('planRun', () => {
  it('runs whole what fits and tiles the rest, putting coarser scales in front until one fits', () => {
    const plan = planRun({ width: 1000, height: 1000 }, options, 768 * 768);
    expect(plan.scales.map((s) => s.size)).toEqual([768, 1536]);
    expect(plan.scales[0]!.tiles).toBeUndefined();
    const tiles = plan.scales[1]!.tiles!;
    expect(tiles.every((t) => t.width * t.height <= 768 * 768)).toBe(true);
    expect(plan.totalSteps).toBe(10 + 10 * tiles.length);
    expect(plan.firstSteps).toEqual([0, 10]);
    // 4096 on wasm: three halvings down to 512.
    const large = planRun({ width: 4000, height: 3000 }, { ...options, size: 4096 }, 768 * 768);
    expect(large.scales.map((s) => s.size)).toEqual([512, 1024, 2048, 4096]);
    expect(large.scales.map((s) => s.tiles === undefined)).toEqual([true, false, false, false]);
    expect(large.scales.at(-1)).toMatchObject({ width: 4096, height: 3072 });
  });

  it('forces tiles of at most tileSize a side, also where the backend holds the whole image', () => {
    const plan = planRun({ width: 400, height: 300 }, { ...options, size: 256, scales: 2, tileSize: 128 }, 1e9);
    expect(plan.scales.map((s) => s.size)).toEqual([128, 256]);
    expect(plan.scales[0]!.tiles).toBeUndefined();
    const tiles = plan.scales[1]!.tiles!;
    expect(tiles.every((t) => t.width <= 128 && t.height <= 128)).toBe(true);
    const passes = planRun({ width: 400, height: 300 }, { ...options, size: 256, tileSize: 128, tilePasses: 2 }, 1e9);
    expect(passes.totalSteps).toBe(10 * passes.scales[0]!.tiles!.length * 2);
  });

  it('covers every pixel, with neighbours overlapping by at least the feathered band', () => {
    for (const [width, height, side] of [
      [1536, 1152, 768],
      [1000, 97, 128],
      [4096, 4096, 768],
      [130, 129, 64],
    ] as const) {
      const tiles = tileGrid(width, height, side);
      const covered = new Uint8Array(width * height);
      for (const t of tiles) {
        expect(t.x0 + t.width).toBeLessThanOrEqual(width);
        expect(t.y0 + t.height).toBeLessThanOrEqual(height);
        for (let y = t.y0; y < t.y0 + t.height; y++) covered.fill(1, y * width + t.x0, y * width + t.x0 + t.width);
      }
      expect(covered.every((c) => c === 1)).toBe(true);
      const xs = [...new Set(tiles.map((t) => t.x0))].sort((a, b) => a - b);
      const w = tiles[0]!.width;
      for (let i = 1; i < xs.length; i++) expect(xs[i - 1]! + w - xs[i]!).toBeGreaterThanOrEqual(tileOverlap(side));
    }
  });

  it('places every step: scale, pass, tile and step within the tile', () => {
    const plan = planRun(
      { width: 256, height: 256 },
      { ...options, size: 256, steps: 3, tileSize: 128, tilePasses: 2 },
      1e9,
    );
    const tiles = plan.scales[0]!.tiles!.length;
    expect(positionOf(plan, 0)).toEqual({ scale: 0, pass: 0, tile: 0, inner: 0 });
    expect(positionOf(plan, 4)).toEqual({ scale: 0, pass: 0, tile: 1, inner: 1 });
    expect(positionOf(plan, 3 * tiles + 2)).toEqual({ scale: 0, pass: 1, tile: 0, inner: 2 });
  });
});

describe('featherWeights', () => {
  it('hands one tile over to the next across the middle of their shared band, ignoring the outer quarters', () => {
    const tiles = [
      { x0: 0, y0: 0, width: 64, height: 32 },
      { x0: 48, y0: 0, width: 64, height: 32 },
    ];
    const [left, right] = tiles.map((t) => featherWeights(t, tiles));
    const l = (x: number) => left![16 * 64 + x]!;
    const r = (x: number) => right![16 * 64 + (x - 48)]!;
    expect(l(0)).toBe(1); // the image's own edges count whole
    expect(l(51)).toBe(1); // the band is [48, 64): its outer quarter next to the right tile's edge…
    expect(r(51)).toBe(0); // …counts nothing of the right tile
    expect(r(55)).toBeLessThan(0.5);
    expect(r(56)).toBeGreaterThan(0.5);
    for (let x = 48; x < 64; x++) expect(l(x) + r(x)).toBeCloseTo(1, 6);
    expect(l(63)).toBe(0);
    expect(r(111)).toBe(1);
    for (let x = 53; x < 60; x++) expect(r(x)).toBeGreaterThan(r(x - 1));
  });

  it('adds up to exactly 1 at every pixel over a whole grid', () => {
    const tiles = tileGrid(300, 200, 128);
    const sum = new Float64Array(300 * 200);
    for (const t of tiles) {
      const w = featherWeights(t, tiles);
      for (let y = 0; y < t.height; y++)
        for (let x = 0; x < t.width; x++) sum[(t.y0 + y) * 300 + t.x0 + x]! += w[y * t.width + x]!;
    }
    for (const value of sum) expect(value).toBeCloseTo(1, 5);
  });
});

let vgg: Vgg19;
let content: Uint8Array;
let starryNight: Uint8Array;

beforeAll(async () => {
  await initBackend();
  vgg = await loadVgg19(VGG19_UINT8);
  content = await readShared(contentImage('tubingen.jpg'));
  starryNight = await readShared(styleImage('starry_night.jpg'));
});

describe('tiledGrams', () => {
  it("matches the whole image's Gram matrices within what lies beyond the tiles' margin", async () => {
    const { data, info } = await sharp(starryNight)
      .resize(256, 192, { fit: 'fill' })
      .raw()
      .toBuffer({ resolveWithObject: true });
    const rgb = tf.tensor4d(Float32Array.from(data), [1, info.height, info.width, 3]);
    const layers = ['relu1_1', 'relu2_1', 'relu3_1', 'relu4_1', 'relu5_1'];
    const baseline = tf.memory().numTensors;
    const tiled = tiledGrams(vgg, rgb, layers, 'max', 160);
    expect(tf.memory().numTensors).toBe(baseline + layers.length);
    const whole = tf.tidy(() => {
      const features = vgg.features(toVggSpace(rgb), layers, 'max');
      return layers.map((layer) => gram(features.get(layer)!));
    });
    for (const [i, layer] of layers.entries()) {
      const t = tiled.get(layer)!;
      const [difference, norm] = await Promise.all([tf.norm(tf.sub(t, whole[i]!)).data(), tf.norm(whole[i]!).data()]);
      // Measured: 1e-6 and below up to relu4_1; relu5_1 6% (its receptive field reaches past the 32 px margin).
      expect(difference[0]! / norm[0]!, layer).toBeLessThan(layer === 'relu5_1' ? 0.1 : 1e-4);
    }
    tf.dispose([rgb, ...whole, ...tiled.values()]);
  });
});

async function run(params: Partial<TransferParams>, context: Partial<GatysContext> = {}): Promise<TransferEvent[]> {
  return drain(
    gatysTransfer(
      { content, styles: [{ image: starryNight }], size: 96, steps: 3, previewEvery: 0, ...params },
      { vgg, ...context },
    ),
  );
}

const stepsOf = (events: TransferEvent[]) => events.filter((e): e is StepEvent => e.type === 'step');
const doneOf = (events: TransferEvent[]) => events.find((e): e is DoneEvent => e.type === 'done')!;

/** Mean |∂x| + |∂y| of an encoded image's luminance, by column and by row. */
async function gradientEnergy(bytes: Uint8Array) {
  const { data, info } = await sharp(bytes).greyscale().raw().toBuffer({ resolveWithObject: true });
  const { width, height } = info;
  const columns = new Float64Array(width);
  const rows = new Float64Array(height);
  for (let y = 0; y < height - 1; y++) {
    for (let x = 0; x < width - 1; x++) {
      const v = data[y * width + x]!;
      const energy = Math.abs(data[y * width + x + 1]! - v) + Math.abs(data[(y + 1) * width + x]! - v);
      columns[x] = columns[x]! + energy / (height - 1);
      rows[y] = rows[y]! + energy / (width - 1);
    }
  }
  return { columns: columns.subarray(0, width - 1), rows: rows.subarray(0, height - 1) };
}

/** Mean of `values` at the indices inside the bands (a pixel either side included), and at the others. */
function nearAndFar(values: Float64Array, bands: { from: number; to: number }[]) {
  let [near, nearCount, far, farCount] = [0, 0, 0, 0];
  values.forEach((v, i) => {
    if (bands.some((b) => i >= b.from - 1 && i <= b.to)) [near, nearCount] = [near + v, nearCount + 1];
    else [far, farCount] = [far + v, farCount + 1];
  });
  return { near: near / nearCount, far: far / farCount };
}

describe('gatysTransfer in tiles', () => {
  it('steps every tile of every pass, says which, previews the whole image, and frees every tensor', async () => {
    const baseline = tf.memory().numTensors;
    const events = await run({ tileSize: 64, tilePasses: 2, previewEvery: 5, previewSize: 256 });
    expect(tf.memory().numTensors).toBe(baseline);
    const started = events[0] as StartedEvent;
    const steps = stepsOf(events);
    const tiles = steps[0]!.tiles!;
    expect(tiles).toBe(4);
    expect(started.totalSteps).toBe(3 * tiles * 2);
    expect(steps.map((s) => s.step)).toEqual(Array.from({ length: started.totalSteps }, (_, i) => i + 1));
    expect(steps.map((s) => [s.pass, s.tile])).toEqual(
      [1, 2].flatMap((pass) =>
        [1, 2, 3, 4].flatMap((tile) => [
          [pass, tile],
          [pass, tile],
          [pass, tile],
        ]),
      ),
    );
    const previews = events.filter((e): e is PreviewEvent => e.type === 'preview');
    expect(previews.length).toBeGreaterThan(0);
    for (const preview of previews) expect([preview.image.width, preview.image.height]).toEqual([96, 72]);
    const done = doneOf(events);
    expect([done.image.width, done.image.height]).toEqual([96, 72]);
    expect(done.steps).toBe(started.totalSteps);
    const meta = await sharp(done.image.bytes).metadata();
    expect([meta.width, meta.height]).toEqual([96, 72]);
  });

  it("tiles past the backend's limit: a whole coarse scale first, then the larger one in tiles", async () => {
    const baseline = tf.memory().numTensors;
    const events = await run({ size: 160 }, { maxPixels: 96 * 96 });
    expect(tf.memory().numTensors).toBe(baseline);
    const started = events[0] as StartedEvent;
    expect(started.scaleSizes).toEqual([80, 160]);
    const steps = stepsOf(events);
    expect(steps.filter((s) => s.scale === 1).every((s) => s.tile === undefined)).toBe(true);
    expect(steps.filter((s) => s.scale === 2).every((s) => s.tiles! > 1)).toBe(true);
    expect([doneOf(events).image.width, doneOf(events).image.height]).toEqual([160, 120]);
  });

  it('refuses a tileSize out of range, naming the field and the valid values', async () => {
    await expect(run({ tileSize: 32 })).rejects.toThrow(EngineInputError);
    await expect(run({ tileSize: 32 })).rejects.toThrow(/tileSize.*64\.\.4096/);
    await expect(run({ tilePasses: 0 })).rejects.toThrow(/tilePasses/);
  });

  it('leaves no seam: at tile borders the gradient energy is within 15% of what a single pass has there', async () => {
    // The content has its own structure (the houses' edges run along the middle rows): a border band is compared with
    // the rest of the image, and that ratio with the same ratio in a single pass of the same run, which has no tiles.
    const params = { size: 256, steps: 12 };
    const tiledRun = doneOf(await run({ ...params, tileSize: 128 }));
    const singleRun = doneOf(await run(params));
    const tiles = tileGrid(tiledRun.image.width, tiledRun.image.height, 128);
    // A border: the band two neighbouring tiles share (from where the later one starts to where the earlier one ends).
    const bands = (starts: number[], side: number) =>
      starts.slice(1).map((start, i) => ({ from: start, to: starts[i]! + side }));
    const columnBands = bands([...new Set(tiles.map((t) => t.x0))], tiles[0]!.width);
    const rowBands = bands([...new Set(tiles.map((t) => t.y0))], tiles[0]!.height);
    expect(columnBands.length).toBeGreaterThan(0);
    expect(rowBands.length).toBeGreaterThan(0);
    const [tiled, single] = await Promise.all([tiledRun, singleRun].map((r) => gradientEnergy(r.image.bytes)));
    const excess = (axis: 'columns' | 'rows', bandsOf: { from: number; to: number }[]) => {
      const t = nearAndFar(tiled![axis], bandsOf);
      const s = nearAndFar(single![axis], bandsOf);
      return t.near / t.far / (s.near / s.far);
    };
    // Measured here: 1.09 across the column borders, 1.03 across the row borders.
    expect(excess('columns', columnBands)).toBeLessThan(1.15);
    expect(excess('rows', rowBands)).toBeLessThan(1.15);
  });
});
