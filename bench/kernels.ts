// Why the engine computes its gradients the way it does: each choice in src/engine against the tfjs default it
// replaces, timed on the backend in use (median of 5 after a warm-up), plus peak tensor memory of a whole
// gradient by tfjs autodiff versus the engine's hand-written backward pass.
//
//   npm run bench:kernels                 # defaults: wasm with all cores, VGG19 from ../shared, 512² for memory
//   npm run bench:kernels -- --threads 1 --memory-size 256
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/engine/runtime/index.js';
import { parseBackendChoice } from '../src/engine/index.js';
import { gram, loadVgg19, weightedLosses } from '../src/engine/gatys/index.js';

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const WEIGHTS = process.env.GRAMIAN_WEIGHTS ?? path.resolve(REPO_ROOT, '../shared/models/vgg19-uint8-neuralpixels');

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

/** Median ms of `run` (which must read its result back, so lazy backends finish the work). */
function time(run: () => tf.Tensor): number {
  tf.tidy(run).dispose();
  const times: number[] = [];
  for (let i = 0; i < 5; i++) {
    const t0 = performance.now();
    const out = tf.tidy(run);
    out.dataSync();
    times.push(performance.now() - t0);
    out.dispose();
  }
  return median(times);
}

function row(name: string, tfjsDefault: number, engine: number): string {
  return `| ${name} | ${tfjsDefault.toFixed(1)} | ${engine.toFixed(1)} | ${(tfjsDefault / engine).toFixed(1)}× |`;
}

/** The layer shapes of a 256² VGG19 pass where each kernel matters most. */
function kernelRows(): string[] {
  const rows: string[] = [];
  for (const [side, channels] of [
    [256, 64],
    [128, 128],
    [64, 256],
  ] as const) {
    const x = tf.randomNormal<tf.Rank.R4>([1, side, side, channels]);
    const kernel = tf.randomNormal<tf.Rank.R4>([3, 3, channels, channels]);
    const flipped = tf.transpose<tf.Tensor4D>(tf.reverse(kernel, [0, 1]), [0, 1, 3, 2]);
    const shape = `${side}²×${channels}`;
    rows.push(
      row(
        `conv input gradient, ${shape}: Conv2DBackpropInput vs conv2d(dy, flipped kernel)`,
        time(() => tf.conv2dTranspose(x, kernel, [1, side, side, channels], 1, 'same')),
        time(() => tf.conv2d(x, flipped, 1, 'same')),
      ),
    );
    const flat = tf.reshape<tf.Rank.R2>(x, [side * side, channels]);
    rows.push(
      row(
        `Gram FᵀF, ${shape}: matMul(F, F, transposeA) vs matMul(transpose(F), F)`,
        time(() => tf.matMul(flat, flat, true, false)),
        time(() => tf.matMul(tf.transpose(flat), flat)),
      ),
    );
    const activated = tf.relu<tf.Tensor4D>(x);
    const pooled = tf.maxPool(activated, 2, 2, 'valid');
    const dy = tf.randomNormal<tf.Rank.R4>(pooled.shape);
    rows.push(
      row(
        `max-pool gradient, ${shape}: MaxPoolGrad vs upsample × equality mask`,
        time(() =>
          tf.grad((input: tf.Tensor) => tf.sum(tf.mul(tf.maxPool(input as tf.Tensor4D, 2, 2, 'valid'), dy)))(activated),
        ),
        time(() =>
          tf.mul(
            tf.cast(tf.equal(activated, tf.image.resizeNearestNeighbor(pooled, [side, side])), 'float32'),
            tf.image.resizeNearestNeighbor(dy, [side, side]),
          ),
        ),
      ),
    );
    tf.dispose([x, kernel, flipped, flat, activated, pooled, dy]);
  }
  return rows;
}

/** Peak tensor bytes of one objective + image gradient at size², by tfjs autodiff and by the engine. */
async function memoryRows(size: number): Promise<string[]> {
  const vgg = await loadVgg19(WEIGHTS);
  const styleLayers = ['relu1_1', 'relu2_1', 'relu3_1', 'relu4_1', 'relu5_1'];
  const layers = [...styleLayers, 'relu4_2'];
  const image = tf.randomUniform<tf.Rank.R4>([1, size, size, 3], -100, 100, 'float32', 1);
  const features = vgg.features(image, layers);
  const targets = {
    content: new Map([['relu4_2', features.get('relu4_2')!]]),
    styleGrams: new Map(styleLayers.map((l) => [l, gram(features.get(l)!)])),
  };
  const weights = {
    content: 5,
    style: 100,
    tv: 100,
    contentLayers: new Map([['relu4_2', 1]]),
    styleLayers: new Map(styleLayers.map((l) => [l, 1])),
  };
  const objective = (x: tf.Tensor4D, f: Map<string, tf.Tensor4D>) => weightedLosses(x, f, targets, weights);
  // tf.profile hands back one shared object, so each peak is read before the next profile.
  const autodiff = (
    await tf.profile(() => {
      tf.tidy(() =>
        tf
          .grad((x: tf.Tensor) => tf.sum(objective(x as tf.Tensor4D, vgg.features(x as tf.Tensor4D, layers))))(image)
          .dataSync(),
      );
    })
  ).peakBytes;
  const byHand = (
    await tf.profile(() => {
      const { terms, gradient } = vgg.valueAndGradient(image, layers, 'max', objective);
      gradient.dataSync();
      tf.dispose([terms, gradient]);
    })
  ).peakBytes;
  const mib = (bytes: number) => (bytes / 2 ** 20).toFixed(0);
  return [
    `| peak tensor memory of one step at ${size}² (MiB, includes 160 MiB of weights) | ` +
      `${mib(autodiff)} | ${mib(byHand)} | ${(autodiff / byHand).toFixed(1)}× |`,
  ];
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { backend: { type: 'string' }, threads: { type: 'string' }, 'memory-size': { type: 'string' } },
  });
  const info = await initBackend({
    backend: parseBackendChoice(values.backend ?? process.env.GRAMIAN_BACKEND),
    ...(values.threads ? { threads: Number(values.threads) } : {}),
  });
  console.log(
    `Backend ${info.backend}, ${info.threads} thread(s), SIMD ${info.simd ? 'yes' : 'no'}; ms are medians of 5.\n`,
  );
  console.log('| Operation: tfjs default vs engine | tfjs default (ms) | engine (ms) | ratio |');
  console.log('| --- | ---: | ---: | ---: |');
  for (const line of kernelRows()) console.log(line);
  for (const line of await memoryRows(Number(values['memory-size'] ?? 512))) console.log(line);
  // The threaded wasm backend keeps worker threads alive.
  process.exit(0);
}

await main();
