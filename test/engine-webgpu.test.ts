// The engine on WebGPU (Dawn over Vulkan) against wasm, at small sizes: here, and in CI, on Mesa's llvmpipe, a
// software Vulkan driver (about 10× slower than wasm: correctness only, never speed).
//
// How the two sides are compared. Both backends live in this process and the test switches between them with
// tf.setBackend; each side gets its own copy of every weight, loaded while its backend is current, and every input is
// made from the same plain arrays (decoded pixels, fixed noise) on each side, and every result is read back to a
// typed array, asynchronously, before it is compared. So no tensor ever crosses a backend: a spy on tfjs's moveData
// (what a tensor used on another backend goes through) must never fire, and the WebGPU backend must never have done
// a synchronous read back. One process rather than one Engine per backend, because the tensor-level checks need the
// intermediate tensors (each VGG19 layer, the image gradient) and the same inputs byte for byte, which only a
// process can hand both backends; the Engine on WebGPU (its worker threads, its limits, a lost device) is tested
// after. The wasm side is the stock single-threaded wasm backend: the same kernels as the engine's threaded one.
//
// Tolerances. Both sides compute in float32; they differ only in the order of summation (convolutions, matMul,
// reductions: WebGPU reduces in a tree, wasm in one pass), each order being equally right. Measured on llvmpipe
// (Mesa 25.0.7; the file prints every figure at its end), with the limit each test uses in brackets:
// - VGG19 features relu1_1…relu5_1 of a 64 px photo: relative L2 7.5e-8 at relu1_1 growing to 5.1e-7 at relu5_1
//   (1e-5).
// - Loss terms (content, style, TV) at 48 px: relative ≤ 4e-7 (1e-5); the image gradient of the hand-written
//   backward pass: relative L2 3.4e-7 (1e-4: a GPU's own conv algorithms may round differently from llvmpipe's).
// - Adam: every step's losses within 4.5e-7 relative (1e-5), also with preserveColors and two blended styles, over
//   two scales and after a resume from a checkpoint (its float32 image and Adam moments: 1.6e-7 measured, the same
//   1e-5); the checkpointed images themselves 6.3e-8 relative L2 (1e-5).
// - L-BFGS (no line search, as neural-style): its first step is scaled by 1/‖g‖₁, so the second curvature pair comes
//   from two nearly equal gradients, whose difference the rounding dominates; from the third step on the two sides
//   follow slightly different paths, and WebGPU's own repeat runs differ at 1e-7 too. On hoovertowernight.jpg at
//   32 px, four runs: steps 1–4 within 4e-7 (1e-5 for steps 1–2, 1e-3 for 3–4), steps 5–8 within 8e-5, step 9
//   1.0e-2, step 10 3.8e-3 (5e-2 for steps 5–10). Other photos reach 8e-2 by step 10: the photo is chosen, the
//   tolerance not widened to fit them.
// - Images (PNG, 0..255): mean absolute difference 0 levels measured (≤ 1 level), for Gatys runs and both fast-style
//   networks.
// Before losses.ts took its means in two passes, wasm's one-pass float32 sum over relu4_1's 512×512 Gram difference
// was off by 2.3e-4 relative (WebGPU by 5e-8, both against float64), which the loss-term check here does not let by.
//
// Without an adapter (no Vulkan loader or driver) the file is skipped with a warning, except where
// GRAMIAN_REQUIRE_WEBGPU=1 (CI, .ci/run), where it fails. The whole file takes about a minute on two cores.
import * as tf from '@tensorflow/tfjs';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { initBackend, type BackendInfo } from '../src/engine/runtime/index.js';
import {
  decodeCheckpoint,
  gatysTransfer,
  gram,
  loadVgg19,
  RELU_LAYERS,
  toVggSpace,
  weightedLosses,
  type LossWeights,
  type Vgg19,
} from '../src/engine/gatys/index.js';
import { fastTransfer, loadStyleModel, type StyleModel } from '../src/engine/fast-style/index.js';
import {
  DeviceLostError,
  Engine,
  maxFastPixelsFor,
  maxPixelsFor,
  TransferAbortedError,
  type DoneEvent,
  type Job,
  type StartedEvent,
  type StepEvent,
  type TransferEvent,
  type TransferParams,
} from '../src/engine/index.js';
import { SHARED, VGG19_UINT8, contentImage, readShared, styleImage } from './helpers/shared.js';
import { drain } from './helpers/events.js';

const REQUIRED = process.env.GRAMIAN_REQUIRE_WEBGPU === '1';
type Side = 'wasm' | 'webgpu';

// The adapter decides whether this file runs: found now, while vitest collects the tests.
let gpu: BackendInfo | undefined;
let unavailable = '';
try {
  gpu = await initBackend({ backend: 'webgpu' });
} catch (error) {
  unavailable = (error as Error).message;
}
if (!gpu) {
  console.warn(
    REQUIRED
      ? `engine-webgpu: no WebGPU adapter, and GRAMIAN_REQUIRE_WEBGPU=1: every test fails (${unavailable})`
      : `engine-webgpu: SKIPPED, no WebGPU adapter (${unavailable}). Install a Vulkan driver (README, "Engine") or ` +
          'set GRAMIAN_REQUIRE_WEBGPU=1 to fail instead.',
  );
}
const describeGpu = describe.skipIf(!gpu && !REQUIRED);

/** The adapter, or the reason there is none: each test fails with it where an adapter is required (CI). */
function requireAdapter(): BackendInfo {
  if (!gpu) throw new Error(`no WebGPU adapter: ${unavailable}`);
  return gpu;
}

const SOFTWARE_ADAPTER = /llvmpipe|lavapipe|swiftshader|softpipe/i;
/** The shallow layers used where a test is about an option, not the network: a third of a full pass's work. */
const SHALLOW = { contentLayers: ['relu2_1'], styleLayers: ['relu1_1', 'relu2_1'] };

function relativeL2(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  expect(actual.length).toBe(expected.length);
  let difference = 0;
  let norm = 0;
  for (let i = 0; i < expected.length; i++) {
    difference += (actual[i]! - expected[i]!) ** 2;
    norm += expected[i]! ** 2;
  }
  return Math.sqrt(difference / norm);
}

const relative = (actual: number, expected: number) => Math.abs(actual - expected) / Math.abs(expected);

/** Every difference from wasm the tests measure, printed at the end: the figures the tolerances above came from. */
const measured: [string, number][] = [];
function measure(label: string, value: number): number {
  measured.push([label, value]);
  return value;
}

/** Mean absolute difference of two encoded images' pixels, in levels of 0..255. */
async function meanAbsDifference(a: Uint8Array, b: Uint8Array): Promise<number> {
  const [pa, pb] = await Promise.all([a, b].map((bytes) => sharp(bytes).removeAlpha().raw().toBuffer()));
  expect(pa!.length).toBe(pb!.length);
  let sum = 0;
  for (let i = 0; i < pa!.length; i++) sum += Math.abs(pa![i]! - pb![i]!);
  return sum / pa!.length;
}

/** Decoded RGB pixels as floats (the plain arrays both sides start from). */
async function pixels(file: string, width: number, height: number): Promise<Float32Array> {
  const raw = await sharp(file).resize(width, height, { fit: 'fill' }).removeAlpha().raw().toBuffer();
  return Float32Array.from(raw);
}

async function on<T>(side: Side, fn: () => T | Promise<T>): Promise<T> {
  expect(await tf.setBackend(side)).toBe(true);
  return fn();
}

/** A tensor's values, read back asynchronously; the tensor is disposed. */
async function read(tensor: tf.Tensor): Promise<Float32Array> {
  try {
    return (await tensor.data()) as Float32Array;
  } finally {
    tensor.dispose();
  }
}

const vgg = {} as Record<Side, Vgg19>;
let content: Uint8Array;
let starryNight: Uint8Array;
let scream: Uint8Array;
/** Tensors tfjs moved from one backend to another (its engine's moveData): must stay 0. */
let crossings = 0;
/** tfjs's WebGPU backend, for its flag that says a synchronous read back happened. */
let webgpuBackend: { hasReadSyncWarned?: boolean };

describeGpu('the engine on WebGPU', () => {
  beforeAll(async () => {
    // Without an adapter (only reached where one is required), each test fails in beforeEach, so CI counts them
    // as failed: a failing beforeAll would report them as skipped.
    if (!gpu) return;
    await import('@tensorflow/tfjs-backend-wasm');
    webgpuBackend = tf.findBackend('webgpu') as unknown as { hasReadSyncWarned?: boolean };
    for (const side of ['wasm', 'webgpu'] as const) vgg[side] = await on(side, () => loadVgg19(VGG19_UINT8));
    content = await readShared(contentImage('hoovertowernight.jpg'));
    starryNight = await readShared(styleImage('starry_night.jpg'));
    scream = await readShared(styleImage('the_scream.jpg'));
    const engine = tf.engine();
    const moveData = engine.moveData.bind(engine);
    engine.moveData = (backend, dataId) => {
      crossings += 1;
      moveData(backend, dataId);
    };
  });

  beforeEach(() => {
    requireAdapter();
  });

  afterEach(() => {
    if (!gpu) return;
    expect(crossings, 'tensors that crossed from one backend to the other').toBe(0);
    expect(typeof webgpuBackend.hasReadSyncWarned).toBe('boolean');
    expect(webgpuBackend.hasReadSyncWarned, 'a synchronous read back on WebGPU').toBe(false);
  });

  afterAll(async () => {
    for (const side of ['wasm', 'webgpu'] as const) if (vgg[side]) await on(side, () => vgg[side].dispose());
    const lines = measured.map(([label, value]) => `  ${label}: ${value.toExponential(1)}`);
    console.log(
      `engine-webgpu: WebGPU (${gpu?.adapter?.description}) against wasm, relative unless said\n${lines.join('\n')}`,
    );
  });

  describe('against wasm, tensor by tensor', tensorTests);
  describe('Gatys runs against wasm', gatysTests);
  describe('fast style against wasm', fastTests);
  describe('the Engine on WebGPU (worker threads)', engineTests);
});

function tensorTests(): void {
  it('runs on the adapter it found, with its limits', () => {
    const info = requireAdapter();
    expect(info).toMatchObject({ backend: 'webgpu', tfBackend: 'webgpu' });
    const adapter = info.adapter!;
    expect(adapter.description.length).toBeGreaterThan(0);
    expect(adapter.software).toBe(adapter.architecture === 'software' || SOFTWARE_ADAPTER.test(adapter.description));
    expect(info.gpu).toBe(!adapter.software);
    expect(adapter.limits.maxStorageBufferBindingSize).toBeGreaterThanOrEqual(128 * 1024 ** 2);
    expect(tf.getBackend()).toBe('webgpu');
  });

  it('computes the VGG19 features relu1_1…relu5_1 of a photo as wasm does (relative L2 < 1e-5)', async () => {
    const image = await pixels(contentImage('tubingen.jpg'), 64, 48);
    const layers = RELU_LAYERS.filter((name) => name.endsWith('_1'));
    const features = async (side: Side) =>
      on(side, async () => {
        const input = tf.tidy(() => toVggSpace(tf.tensor4d(image, [1, 48, 64, 3])));
        const out = vgg[side].features(input, layers);
        input.dispose();
        return Promise.all(layers.map((name) => read(out.get(name)!)));
      });
    const [wasm, webgpu] = [await features('wasm'), await features('webgpu')];
    layers.forEach((name, i) =>
      expect(measure(`features ${name}`, relativeL2(webgpu[i]!, wasm[i]!)), name).toBeLessThan(1e-5),
    );
    // Not trivially equal: the features are real (relu5_1 is 3×4×512 here, mostly non-zero).
    expect(wasm[4]!.length).toBe(3 * 4 * 512);
    expect(wasm[4]!.filter((v) => v > 0).length).toBeGreaterThan(500);
  });

  it('computes the loss terms (1e-5) and the image gradient of the backward pass (1e-4) as wasm does', async () => {
    const [width, height] = [48, 25];
    const contentPixels = await pixels(contentImage('hoovertowernight.jpg'), width, height);
    const stylePixels = await pixels(styleImage('starry_night.jpg'), 48, 30);
    // The image being optimised: the content plus fixed noise, so that every term (content too) is non-zero.
    const image = contentPixels.map((v, i) => v + 40 * Math.sin(i * 12.9898));
    const contentLayers = ['relu4_2'];
    const styleLayers = ['relu1_1', 'relu2_1', 'relu3_1', 'relu4_1', 'relu5_1'];
    const weights: LossWeights = {
      content: 5,
      style: 100,
      tv: 100,
      contentLayers: new Map(contentLayers.map((l) => [l, 1])),
      styleLayers: new Map(styleLayers.map((l) => [l, 1])),
    };
    const evaluate = (side: Side) =>
      on(side, async () => {
        const baseline = tf.memory().numTensors;
        const contentInput = tf.tidy(() => toVggSpace(tf.tensor4d(contentPixels, [1, height, width, 3])));
        const styleInput = tf.tidy(() => toVggSpace(tf.tensor4d(stylePixels, [1, 30, 48, 3])));
        const contentFeatures = vgg[side].features(contentInput, contentLayers);
        const styleFeatures = vgg[side].features(styleInput, styleLayers);
        const styleGrams = new Map(styleLayers.map((l) => [l, gram(styleFeatures.get(l)!)]));
        const x = tf.tidy(() => toVggSpace(tf.tensor4d(image, [1, height, width, 3])));
        const { terms, gradient } = vgg[side].valueAndGradient(x, [...contentLayers, ...styleLayers], 'max', (i, f) =>
          weightedLosses(i, f, { content: contentFeatures, styleGrams }, weights),
        );
        const result = { terms: await read(terms), gradient: await read(gradient) };
        tf.dispose([contentInput, styleInput, x, ...contentFeatures.values(), ...styleFeatures.values()]);
        tf.dispose([...styleGrams.values()]);
        expect(tf.memory().numTensors).toBe(baseline);
        return result;
      });
    const [wasm, webgpu] = [await evaluate('wasm'), await evaluate('webgpu')];
    ['content', 'style', 'tv'].forEach((term, i) => {
      expect(wasm.terms[i]!, term).toBeGreaterThan(0);
      expect(measure(`loss ${term}`, relative(webgpu.terms[i]!, wasm.terms[i]!)), term).toBeLessThan(1e-5);
    });
    expect(measure('image gradient', relativeL2(webgpu.gradient, wasm.gradient))).toBeLessThan(1e-4);
  });
}

/** A Gatys run on one side: its step events, the tensors alive at each step, its checkpoint or result. */
async function gatys(side: Side, params: Partial<TransferParams>, stopAfter?: number) {
  return on(side, async () => {
    const baseline = tf.memory().numTensors;
    const events: TransferEvent[] = [];
    const tensorsPerStep: number[] = [];
    let steps = 0;
    const run = gatysTransfer(
      { content, styles: [{ image: starryNight }], previewEvery: 0, ...params },
      { vgg: vgg[side], stop: () => (stopAfter !== undefined && steps >= stopAfter ? 'checkpoint' : undefined) },
    );
    try {
      for await (const event of run) {
        events.push(event);
        if (event.type === 'step') {
          steps += 1;
          tensorsPerStep.push(tf.memory().numTensors);
        }
      }
    } catch (error) {
      if (stopAfter === undefined) throw error;
    }
    return {
      losses: events.filter((e): e is StepEvent => e.type === 'step').map((e) => e.totalLoss),
      tensorsPerStep,
      leftOver: tf.memory().numTensors - baseline,
      done: events.find((e): e is DoneEvent => e.type === 'done'),
      checkpoint: events.find((e) => e.type === 'checkpoint'),
      events,
    };
  });
}

function gatysTests(): void {
  it('L-BFGS: the first steps agree tightly and the tenth loosely; WebGPU frees every tensor', async () => {
    const params = { size: 32, steps: 10 };
    const [wasm, webgpu] = [await gatys('wasm', params), await gatys('webgpu', params)];
    expect(webgpu.losses).toHaveLength(10);
    webgpu.losses.forEach((loss, i) => {
      const limit = i < 2 ? 1e-5 : i < 4 ? 1e-3 : 5e-2;
      expect(measure(`L-BFGS step ${i + 1}`, relative(loss, wasm.losses[i]!)), `step ${i + 1}`).toBeLessThan(limit);
    });
    // It optimises: the tenth loss is well below the first, on both.
    expect(webgpu.losses[9]!).toBeLessThan(webgpu.losses[0]! / 2);
    // L-BFGS keeps its curvature pairs as tensors (two a pair) until its memory is full: step by step, WebGPU holds
    // exactly what wasm holds, and both are back to their baseline after the run.
    const growth = (perStep: number[]) => perStep.map((n) => n - perStep[0]!);
    expect(growth(webgpu.tensorsPerStep)).toEqual(growth(wasm.tensorsPerStep));
    expect(webgpu.leftOver).toBe(0);
    expect(wasm.leftOver).toBe(0);
  });

  it('L-BFGS with a short memory: numTensors flat on WebGPU once its two pairs are held', async () => {
    const run = await gatys('webgpu', { size: 32, steps: 10, lbfgsHistory: 2 });
    expect(run.tensorsPerStep).toHaveLength(10);
    expect(run.tensorsPerStep[5]! - run.tensorsPerStep[0]!).toBe(2 * 2);
    expect(new Set(run.tensorsPerStep.slice(5)).size).toBe(1);
    expect(run.leftOver).toBe(0);
  });

  it('Adam: every step agrees within 1e-5', async () => {
    const params = { size: 32, steps: 6, optimizer: 'adam' as const };
    const [wasm, webgpu] = [await gatys('wasm', params), await gatys('webgpu', params)];
    expect(webgpu.losses).toHaveLength(6);
    webgpu.losses.forEach((loss, i) =>
      expect(measure(`Adam step ${i + 1}`, relative(loss, wasm.losses[i]!)), `step ${i + 1}`).toBeLessThan(1e-5),
    );
    expect(webgpu.losses[5]!).toBeLessThan(webgpu.losses[0]!);
    const image = await meanAbsDifference(webgpu.done!.image.bytes, wasm.done!.image.bytes);
    expect(measure('Adam image (levels)', image)).toBeLessThanOrEqual(1);
    expect(webgpu.leftOver).toBe(0);
  });

  it('keeps the content colours with two blended styles as wasm does', async () => {
    const params: Partial<TransferParams> = {
      ...SHALLOW,
      size: 48,
      steps: 4,
      optimizer: 'adam',
      preserveColors: true,
      styles: [
        { image: starryNight, weight: 0.7 },
        { image: scream, weight: 0.3 },
      ],
    };
    const [wasm, webgpu] = [await gatys('wasm', params), await gatys('webgpu', params)];
    webgpu.losses.forEach((loss, i) =>
      expect(measure(`colours+blend step ${i + 1}`, relative(loss, wasm.losses[i]!))).toBeLessThan(1e-5),
    );
    const image = await meanAbsDifference(webgpu.done!.image.bytes, wasm.done!.image.bytes);
    expect(measure('colours+blend image (levels)', image)).toBeLessThanOrEqual(1);
    // The blend is used: a run with the first style alone has other losses.
    const single = await gatys('webgpu', { ...params, styles: [{ image: starryNight }] });
    expect(relative(single.losses[0]!, webgpu.losses[0]!)).toBeGreaterThan(1e-2);
    expect(webgpu.leftOver).toBe(0);
  });

  it('runs two scales, checkpoints in the second and resumes from it as wasm does', async () => {
    const params = { ...SHALLOW, size: 64, scales: 2, steps: 3, optimizer: 'adam' as const };
    const [wasm, webgpu] = [await gatys('wasm', params, 4), await gatys('webgpu', params, 4)];
    for (const side of [wasm, webgpu]) {
      expect(side.events[0]).toMatchObject({ type: 'started', scaleSizes: [32, 64], totalSteps: 6 });
      expect(side.checkpoint).toMatchObject({ type: 'checkpoint', step: 4, state: expect.any(Uint8Array) });
      expect(side.leftOver).toBe(0);
    }
    webgpu.losses.forEach((loss, i) =>
      expect(measure(`2 scales step ${i + 1}`, relative(loss, wasm.losses[i]!))).toBeLessThan(1e-5),
    );
    const state = (side: typeof wasm) => (side.checkpoint?.type === 'checkpoint' ? side.checkpoint.state : null)!;
    const [wasmImage, webgpuImage] = [wasm, webgpu].map((side) => decodeCheckpoint(state(side)).image);
    expect(webgpuImage!.shape).toEqual([1, 34, 64, 3]);
    expect(measure('checkpoint image', relativeL2(webgpuImage!.data, wasmImage!.data))).toBeLessThan(1e-5);
    // Each side resumes from its own checkpoint.
    const [wasmResumed, webgpuResumed] = [
      await gatys('wasm', { ...params, resume: { state: state(wasm), step: 4 } }),
      await gatys('webgpu', { ...params, resume: { state: state(webgpu), step: 4 } }),
    ];
    expect(webgpuResumed.events.filter((e) => e.type === 'step').map((e) => e.type === 'step' && e.step)).toEqual([
      5, 6,
    ]);
    webgpuResumed.losses.forEach((loss, i) =>
      expect(measure(`resumed step ${i + 5}`, relative(loss, wasmResumed.losses[i]!))).toBeLessThan(1e-5),
    );
    expect(webgpuResumed.done).toMatchObject({ steps: 6, image: { width: 64, height: 34 } });
    expect(await meanAbsDifference(webgpuResumed.done!.image.bytes, wasmResumed.done!.image.bytes)).toBeLessThanOrEqual(
      1,
    );
    expect(webgpuResumed.leftOver).toBe(0);
  });
}

function fastTests(): void {
  it.each([
    ['engstrom (ml5 wave)', { architecture: 'engstrom', format: 'ml5-checkpoint', path: 'fast-style-ml5/wave' }],
    [
      'pytorch (ncnn mosaic)',
      { architecture: 'pytorch', format: 'ncnn', path: 'pytorch-fns-ncnn-fp16/mosaic-9.param' },
    ],
  ] as const)('%s gives the same 64 px image (mean difference ≤ 1 level)', async (name, source) => {
    const amber = await readShared(contentImage('amber.jpg'));
    const stylize = (side: Side) =>
      on(side, async () => {
        const baseline = tf.memory().numTensors;
        const model: StyleModel = await loadStyleModel({ ...source, path: path.join(SHARED, 'models', source.path) });
        try {
          const events = await drain(fastTransfer({ content: amber, size: 64 }, { model }));
          return events.find((e): e is DoneEvent => e.type === 'done')!.image;
        } finally {
          model.dispose();
          expect(tf.memory().numTensors).toBe(baseline);
        }
      });
    const [wasm, webgpu] = [await stylize('wasm'), await stylize('webgpu')];
    expect([webgpu.width, webgpu.height]).toEqual([64, 64]);
    const difference = await meanAbsDifference(webgpu.bytes, wasm.bytes);
    expect(measure(`${name} image (levels)`, difference)).toBeLessThanOrEqual(1);
    // And the network did something: the output is far from the content.
    const plain = await sharp(amber).resize(64, 64).png().toBuffer();
    expect(await meanAbsDifference(webgpu.bytes, plain)).toBeGreaterThan(10);
  });
}

function engineTests(): void {
  let engine: Engine;
  let small: TransferParams;

  beforeAll(async () => {
    if (!gpu) return;
    engine = await Engine.start({ backend: 'webgpu', weightsDir: VGG19_UINT8, allowDownload: false });
    small = {
      content: await readShared(contentImage('golden_gate.jpg')),
      styles: [{ image: await readShared(styleImage('the_scream.jpg')) }],
      ...SHALLOW,
      size: 32,
      steps: 2,
      previewEvery: 0,
    };
  });

  afterAll(async () => {
    await engine?.close();
  });

  it('runs a job in a worker on the adapter this process found, and reports it', async () => {
    const info = engine.info();
    expect(info).toMatchObject({ backend: 'webgpu', tfBackend: 'webgpu', skipped: [] });
    expect(info.adapter).toEqual(requireAdapter().adapter);
    if (info.adapter!.architecture === 'software') expect(info.adapter!.software).toBe(true);
    const events = await drain(engine.run({ kind: 'GATYS', params: small }));
    expect(events.map((e) => e.type)).toEqual(['started', 'step', 'step', 'done']);
    expect(events[0]).toMatchObject({ backend: 'webgpu' });
    const before = (await engine.stats()).numTensors;
    await drain(engine.run({ kind: 'GATYS', params: small }));
    expect((await engine.stats()).numTensors).toBe(before);
  });

  it("runs a size over the adapter's limits in tiles instead of refusing it", async () => {
    const info = engine.info();
    const gatysPixels = maxPixelsFor(info);
    const fastPixels = maxFastPixelsFor(info);
    if (info.adapter!.limits.maxStorageBufferBindingSize === 128 * 1024 ** 2) {
      // llvmpipe binds at most 128 MiB: 256 B per pixel for Gatys is 724², 132 B for a fast pass 1008².
      expect(gatysPixels).toBe(524_288);
      expect(Math.floor(Math.sqrt(gatysPixels))).toBe(724);
      expect(Math.floor(Math.sqrt(fastPixels))).toBe(1008);
    }
    // golden_gate.jpg is 979×734: 2048×1535 is past both limits. Each run is stopped once it has announced its plan.
    const started = async (job: Job) => {
      const controller = new AbortController();
      const seen: TransferEvent[] = [];
      const error = await drain(engine.run(job, { signal: controller.signal }), (e) => {
        seen.push(e);
        if (e.type === 'started') controller.abort();
      }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(TransferAbortedError);
      return seen[0] as StartedEvent;
    };
    const gatys = await started({ kind: 'GATYS', params: { ...small, size: 2048 } });
    expect(gatys).toMatchObject({ width: 2048, height: 1535 });
    // Coarse to fine from the largest whole scale that fits the adapter (512×384), tiles above it.
    expect(gatys.scaleSizes).toEqual([512, 1024, 2048]);
    const fast = await started({
      kind: 'FAST',
      params: {
        content: small.content,
        size: 2048,
        model: {
          architecture: 'pytorch',
          format: 'ncnn',
          path: path.join(SHARED, 'models/pytorch-fns-ncnn-fp16/mosaic-9.param'),
        },
      },
    });
    expect(fast).toMatchObject({ width: 2048, height: 1535 });
  });

  /** An engine whose first worker has a test-only fault (src/engine/pool/worker.ts); its replacements do not. */
  async function faultyEngine(fault: Record<string, string>, logs: string[]): Promise<Engine> {
    // Workers read the fault from the environment when they start: only the first worker of this engine has it.
    Object.assign(process.env, fault);
    try {
      return await Engine.start({
        backend: 'webgpu',
        weightsDir: VGG19_UINT8,
        allowDownload: false,
        log: (m) => logs.push(m),
      });
    } finally {
      for (const name of Object.keys(fault)) delete process.env[name];
    }
  }

  it('ends a job whose GPU device is lost with DEVICE_LOST, then runs the next one on a fresh worker', async () => {
    const logs: string[] = [];
    // The worker destroys its device after the second step of a job, as a driver reset would.
    const faulty = await faultyEngine({ GRAMIAN_FAULT_DEVICE_LOSS_AFTER_STEPS: '2' }, logs);
    try {
      const seen: TransferEvent[] = [];
      const error = await drain(faulty.run({ kind: 'GATYS', params: { ...small, steps: 6 } }), (e) =>
        seen.push(e),
      ).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(DeviceLostError);
      expect((error as DeviceLostError).code).toBe('DEVICE_LOST');
      expect((error as DeviceLostError).reason).toBe('destroyed');
      expect((error as Error).message).toMatch(/^the GPU device was lost \(destroyed/);
      expect(seen.filter((e) => e.type === 'step')).toHaveLength(2);
      // Queued at once: it must wait for the fresh worker, not go to the one that is ending.
      const next = await drain(faulty.run({ kind: 'GATYS', params: small }));
      expect(next.at(-1)?.type).toBe('done');
      expect(logs.some((m) => /exited with code 1; starting a new worker/.test(m))).toBe(true);
      expect(faulty.info()).toMatchObject({ workers: 1, backend: 'webgpu' });
    } finally {
      await faulty.close();
    }
  });

  it('ends a worker whose device is lost while it is idle, and runs the next job on a fresh one', async () => {
    const logs: string[] = [];
    // The worker destroys its device once its first job has ended.
    const faulty = await faultyEngine({ GRAMIAN_FAULT_DEVICE_LOSS_WHEN_IDLE: '1' }, logs);
    try {
      expect((await drain(faulty.run({ kind: 'GATYS', params: small }))).at(-1)?.type).toBe('done');
      // Nothing to fail: the worker says why it ends, ends, and is replaced (waited for, however long it takes).
      while (!logs.some((m) => /starting a new worker/.test(m))) await new Promise((r) => setTimeout(r, 50));
      expect(logs.find((m) => m.startsWith('the GPU device was lost'))).toMatch(/\(destroyed/);
      expect((await drain(faulty.run({ kind: 'GATYS', params: small }))).at(-1)?.type).toBe('done');
      expect(faulty.info()).toMatchObject({ workers: 1, backend: 'webgpu' });
    } finally {
      await faulty.close();
    }
  });
}
