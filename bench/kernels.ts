// Which gradient kernels the Gatys backward pass should use on a backend (src/engine/gatys/kernels.ts): each of the
// three choices timed both ways on that backend, the faster one named, and the table's choice checked against it.
// Also the largest single tensor per output pixel of a Gatys step and of each fast-style pass (what bounds the output
// size on WebGPU, where one tensor is one buffer), and the peak tensor memory of a step by tfjs autodiff versus the
// engine's backward pass. Prints Markdown tables; writes bench/results/kernels-<backend>.json.
//
//   npm run bench:kernels                             # wasm with all cores; VGG19 and models from ../shared
//   npm run bench:kernels -- --backend webgpu         # WebGPU (a software adapter must be forced this way)
//   npm run bench:kernels -- --backend cpu --runs 3 --shapes 32x64,16x128 --memory-size 64 --skip-fast
//
// Every timing is the median of --runs calls (after one warm-up), the two variants alternating so that load from
// elsewhere on the machine falls on both, and each call reads its result back with `await data()` (WebGPU in Node
// cannot read synchronously, and a lazy backend has done nothing until it is read).
import { mkdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import { type BackendInfo, initBackend } from '../src/engine/runtime/index.js';
import { parseBackendChoice } from '../src/engine/index.js';
import {
  convInputGradient,
  flipKernel,
  gram,
  KERNEL_BACKENDS,
  kernelChoicesFor,
  type KernelChoices,
  loadVgg19,
  maxPoolGradient,
  REWRITTEN_KERNELS,
  TFJS_DEFAULT_KERNELS,
  type Vgg19,
  weightedLosses,
} from '../src/engine/gatys/index.js';
import { loadStyleModel, type StyleModelSource } from '../src/engine/fast-style/index.js';
import { machineInfo, REPO_ROOT, SHARED } from './machine.js';

const WEIGHTS = process.env.GRAMIAN_WEIGHTS ?? path.join(SHARED, 'models/vgg19-uint8-neuralpixels');
const RESULTS_DIR = path.join(REPO_ROOT, 'bench/results');
/** One model of each architecture, as bench/engine.ts. */
const FAST_MODELS: Record<string, StyleModelSource> = {
  'ml5 udnie (Engstrom)': {
    architecture: 'engstrom',
    format: 'ml5-checkpoint',
    path: path.join(SHARED, 'models/fast-style-ml5/udnie'),
  },
  'ncnn mosaic-9 (PyTorch)': {
    architecture: 'pytorch',
    format: 'ncnn',
    path: path.join(SHARED, 'models/pytorch-fns-ncnn-fp16/mosaic-9.param'),
  },
};
const STYLE_LAYERS = ['relu1_1', 'relu2_1', 'relu3_1', 'relu4_1', 'relu5_1'];
const CONTENT_LAYERS = ['relu4_2'];
/** Totals closer than this ratio are flagged: a rerun on a busy machine may order them the other way. */
const CLOSE = 1.1;

/**
 * Per backend: the layer shapes timed (side, channels; the three do equal conv work, as VGG19's blocks do), the
 * sizes profiled for the largest tensor, and the size of the memory comparison. A software WebGPU adapter and the
 * plain-JS cpu backend are 10-100x slower than wasm, so they get VGG19's deeper shapes at a quarter of the side.
 */
interface Plan {
  shapes: [number, number][];
  gatysSizes: number[];
  fastSizes: number[];
  memorySize: number;
  runs: number;
}
const LARGE: Plan = {
  shapes: [
    [256, 64],
    [128, 128],
    [64, 256],
  ],
  gatysSizes: [64, 256],
  fastSizes: [64, 256, 512],
  memorySize: 512,
  runs: 5,
};
const SMALL: Plan = {
  shapes: [
    [64, 64],
    [32, 128],
    [16, 256],
  ],
  gatysSizes: [64, 128],
  fastSizes: [64, 256],
  memorySize: 128,
  runs: 15,
};

type Operation = keyof KernelChoices;

interface PairResult {
  operation: Operation | 'gramForward';
  label: string;
  shape: string;
  tfjsDefault: { variant: string; ms: number; samples: number[] };
  rewrite: { variant: string; ms: number; samples: number[] };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

/** ms of one call of `run` (synchronous kernels; the result is read back asynchronously). */
async function once(run: () => tf.Tensor): Promise<number> {
  const t0 = performance.now();
  const out = tf.tidy(run);
  await out.data();
  const ms = performance.now() - t0;
  out.dispose();
  return ms;
}

/** Medians of `runs` alternating calls of a and b, after one warm-up of each (WebGPU compiles its shaders then). */
async function timePair(a: () => tf.Tensor, b: () => tf.Tensor, runs: number): Promise<[number[], number[]]> {
  await once(a);
  await once(b);
  const ta: number[] = [];
  const tb: number[] = [];
  for (let i = 0; i < runs; i++) {
    ta.push(await once(a));
    tb.push(await once(b));
  }
  return [ta, tb];
}

const round = (ms: number) => Math.round(ms * 10) / 10;

async function pair(
  operation: PairResult['operation'],
  label: string,
  shape: string,
  variants: [string, string],
  runs: [() => tf.Tensor, () => tf.Tensor],
  count: number,
): Promise<PairResult> {
  const [ta, tb] = await timePair(runs[0], runs[1], count);
  const result: PairResult = {
    operation,
    label,
    shape,
    tfjsDefault: { variant: variants[0], ms: round(median(ta)), samples: ta.map(round) },
    rewrite: { variant: variants[1], ms: round(median(tb)), samples: tb.map(round) },
  };
  console.error(`  ${label}, ${shape}: ${result.tfjsDefault.ms} vs ${result.rewrite.ms} ms`);
  return result;
}

/** Each of the three choices (and the Gram product alone) at one layer shape, tfjs's kernel first. */
async function kernelPairs(side: number, channels: number, runs: number): Promise<PairResult[]> {
  const shape = `${side}²×${channels}`;
  const x = tf.randomNormal<tf.Rank.R4>([1, side, side, channels], 0, 1, 'float32', 1);
  const kernel = tf.randomNormal<tf.Rank.R4>([3, 3, channels, channels], 0, 0.05, 'float32', 2);
  const flipped = flipKernel(kernel);
  const activated = tf.relu<tf.Tensor4D>(x);
  const pooled = tf.maxPool(activated, 2, 2, 'valid');
  const poolDy = tf.randomNormal<tf.Rank.R4>(pooled.shape, 0, 1, 'float32', 3);
  const gramDy = tf.randomNormal<tf.Rank.R2>([channels, channels], 0, 1, 'float32', 4);
  const inputShape: [number, number, number, number] = [1, side, side, channels];
  const D = TFJS_DEFAULT_KERNELS;
  const R = REWRITTEN_KERNELS;
  const gramWithGradient = (product: KernelChoices['gram']) => () =>
    tf.grad((f: tf.Tensor) => tf.sum(tf.mul(gram(f as tf.Tensor4D, product), gramDy)))(x);
  try {
    return [
      await pair(
        'convInputGradient',
        'conv input gradient',
        shape,
        [D.convInputGradient, R.convInputGradient],
        [
          () => convInputGradient(x, { kernel }, inputShape, D.convInputGradient),
          () => convInputGradient(x, { kernel, flipped }, inputShape, R.convInputGradient),
        ],
        runs,
      ),
      await pair(
        'gramForward',
        'Gram FᵀF alone',
        shape,
        [D.gram, R.gram],
        [() => gram(x, D.gram), () => gram(x, R.gram)],
        runs,
      ),
      await pair(
        'gram',
        'Gram FᵀF with its gradient',
        shape,
        [D.gram, R.gram],
        [gramWithGradient(D.gram), gramWithGradient(R.gram)],
        runs,
      ),
      await pair(
        'maxPoolGradient',
        'max-pool gradient',
        shape,
        [D.maxPoolGradient, R.maxPoolGradient],
        [
          () => maxPoolGradient(poolDy, activated, pooled, D.maxPoolGradient),
          () => maxPoolGradient(poolDy, activated, pooled, R.maxPoolGradient),
        ],
        runs,
      ),
    ];
  } finally {
    tf.dispose([x, kernel, flipped, activated, pooled, poolDy, gramDy]);
  }
}

interface Decision {
  tfjsDefaultMs: number;
  rewriteMs: number;
  wins: string;
  /** The totals are within CLOSE of each other. */
  close: boolean;
}

/** Per choice: the variant with the lower total over the shapes (which do equal conv work). */
function decide(pairs: PairResult[]): Record<Operation, Decision> {
  const out = {} as Record<Operation, Decision>;
  for (const operation of ['convInputGradient', 'gram', 'maxPoolGradient'] as const) {
    const rows = pairs.filter((p) => p.operation === operation);
    const tfjsDefaultMs = round(rows.reduce((sum, p) => sum + p.tfjsDefault.ms, 0));
    const rewriteMs = round(rows.reduce((sum, p) => sum + p.rewrite.ms, 0));
    const wins = rewriteMs < tfjsDefaultMs ? REWRITTEN_KERNELS[operation] : TFJS_DEFAULT_KERNELS[operation];
    const close = Math.max(tfjsDefaultMs, rewriteMs) < CLOSE * Math.min(tfjsDefaultMs, rewriteMs);
    out[operation] = { tfjsDefaultMs, rewriteMs, wins, close };
  }
  return out;
}

interface Largest {
  what: string;
  size: number;
  bytesPerPixel: number;
  kernel: string;
  shape: number[];
}

/** Runs `pass` under tf.profile and returns the largest kernel output (4 bytes an element) per output pixel. */
async function largestTensor(what: string, size: number, pass: () => Promise<void>): Promise<Largest> {
  const profile = await tf.profile(pass);
  let best = { bytes: 0, kernel: '', shape: [] as number[] };
  for (const k of profile.kernels) {
    for (const shape of k.outputShapes) {
      const bytes = 4 * shape.reduce((a, b) => a * b, 1);
      if (bytes > best.bytes) best = { bytes, kernel: k.name, shape };
    }
  }
  const result = {
    what,
    size,
    bytesPerPixel: round(best.bytes / (size * size)),
    kernel: best.kernel,
    shape: best.shape,
  };
  console.error(`  ${what} at ${size}²: ${result.bytesPerPixel} B/px (${best.kernel} → [${best.shape.join(',')}])`);
  return result;
}

/** Loss targets and weights for the default Gatys layers, from a random image of the same size. */
function gatysObjective(vgg: Vgg19, size: number) {
  const layers = [...STYLE_LAYERS, ...CONTENT_LAYERS];
  const target = tf.randomUniform<tf.Rank.R4>([1, size, size, 3], -100, 100, 'float32', 5);
  const features = vgg.features(target, layers);
  const targets = {
    content: new Map(CONTENT_LAYERS.map((l) => [l, features.get(l)!])),
    styleGrams: new Map(STYLE_LAYERS.map((l) => [l, gram(features.get(l)!)])),
  };
  for (const l of STYLE_LAYERS) if (!CONTENT_LAYERS.includes(l)) features.get(l)!.dispose();
  target.dispose();
  const weights = {
    content: 5,
    style: 100,
    tv: 1e-3,
    contentLayers: new Map(CONTENT_LAYERS.map((l) => [l, 1])),
    styleLayers: new Map(STYLE_LAYERS.map((l) => [l, 1])),
  };
  return {
    layers,
    objective: (x: tf.Tensor4D, f: Map<string, tf.Tensor4D>) => weightedLosses(x, f, targets, weights),
    dispose: () => tf.dispose([...targets.content.values(), ...targets.styleGrams.values()]),
  };
}

/** One Gatys step's tensors, as transfer.ts's evaluate(): the image uploaded, objective and gradient, read back. */
async function gatysStep(vgg: Vgg19, size: number, objective: ReturnType<typeof gatysObjective>): Promise<void> {
  const image = tf.randomUniform<tf.Rank.R4>([1, size, size, 3], -100, 100, 'float32', 6);
  const { terms, gradient } = vgg.valueAndGradient(image, objective.layers, 'max', objective.objective);
  await Promise.all([terms.data(), gradient.data()]);
  tf.dispose([image, terms, gradient]);
}

async function largestTensors(vgg: Vgg19, plan: Plan, skipFast: boolean): Promise<Largest[]> {
  const out: Largest[] = [];
  for (const size of plan.gatysSizes) {
    const objective = gatysObjective(vgg, size);
    await gatysStep(vgg, size, objective); // warm-up outside the profile
    out.push(await largestTensor('Gatys step', size, () => gatysStep(vgg, size, objective)));
    objective.dispose();
  }
  if (skipFast) return out;
  for (const [name, source] of Object.entries(FAST_MODELS)) {
    const model = await loadStyleModel(source);
    for (const size of plan.fastSizes) {
      const pass = async () => {
        const rgb = tf.randomUniform<tf.Rank.R4>([1, size, size, 3], 0, 255, 'float32', 7);
        const out = model.stylize(rgb);
        await out.data();
        tf.dispose([rgb, out]);
      };
      await pass();
      out.push(await largestTensor(`fast pass, ${name}`, size, pass));
    }
    model.dispose();
  }
  return out;
}

/** Peak tensor bytes of one objective + image gradient at size², by tfjs autodiff and by the engine's pass. */
async function peakMemory(
  vgg: Vgg19,
  size: number,
): Promise<{ size: number; autodiffBytes: number; byHandBytes: number }> {
  const objective = gatysObjective(vgg, size);
  const image = tf.randomUniform<tf.Rank.R4>([1, size, size, 3], -100, 100, 'float32', 1);
  // tf.profile hands back one shared object, so each peak is read before the next profile.
  const autodiffBytes = (
    await tf.profile(async () => {
      const g = tf.tidy(() =>
        tf.grad((x: tf.Tensor) =>
          tf.sum(objective.objective(x as tf.Tensor4D, vgg.features(x as tf.Tensor4D, objective.layers))),
        )(image),
      );
      await g.data();
      g.dispose();
    })
  ).peakBytes;
  const byHandBytes = (
    await tf.profile(async () => {
      const { terms, gradient } = vgg.valueAndGradient(image, objective.layers, 'max', objective.objective);
      await gradient.data();
      tf.dispose([terms, gradient]);
    })
  ).peakBytes;
  image.dispose();
  objective.dispose();
  return { size, autodiffBytes, byHandBytes };
}

function describeBackend(info: BackendInfo): string {
  const a = info.adapter;
  const adapter = a ? `, adapter ${a.description || a.device} (${a.software ? 'SOFTWARE' : 'hardware'})` : '';
  return `Backend ${info.tfBackend}, ${info.threads} thread(s), SIMD ${info.simd ? 'yes' : 'no'}${adapter}`;
}

function parseShapes(text: string): [number, number][] {
  return text.split(',').map((item) => {
    const match = /^(\d+)x(\d+)$/.exec(item.trim());
    if (!match) throw new Error(`--shapes takes side x channels pairs such as 64x64,32x128, got "${item}"`);
    return [Number(match[1]), Number(match[2])];
  });
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      backend: { type: 'string' },
      threads: { type: 'string' },
      runs: { type: 'string' },
      shapes: { type: 'string' },
      'memory-size': { type: 'string' },
      'skip-memory': { type: 'boolean', default: false },
      'skip-fast': { type: 'boolean', default: false },
    },
  });
  const load = os.loadavg();
  const info = await initBackend({
    backend: parseBackendChoice(values.backend ?? process.env.GRAMIAN_BACKEND),
    ...(values.threads ? { threads: Number(values.threads) } : {}),
    log: (message) => console.error(`  engine: ${message}`),
  });
  const backend = info.tfBackend;
  const base = backend === 'webgpu' || backend === 'cpu' ? SMALL : LARGE;
  const plan: Plan = {
    ...base,
    ...(values.shapes ? { shapes: parseShapes(values.shapes) } : {}),
    ...(values.runs ? { runs: Number(values.runs) } : {}),
    ...(values['memory-size'] ? { memorySize: Number(values['memory-size']) } : {}),
  };
  const software = info.adapter?.software === true;
  const header = `${describeBackend(info)}; ms are medians of ${plan.runs}, read back with await data().`;
  console.log(header);
  if (software) {
    console.log(
      'SOFTWARE ADAPTER: these are CPU-emulated GPU figures (llvmpipe), at small shapes; the webgpu choices come ' +
        'from them until a hardware GPU is measured (bench/gpu, --kernels).',
    );
  }

  const pairs: PairResult[] = [];
  for (const [side, channels] of plan.shapes) pairs.push(...(await kernelPairs(side, channels, plan.runs)));
  const decisions = decide(pairs);
  const table = kernelChoicesFor(backend);

  console.log(
    '\n| Operation: tfjs default vs rewrite | tfjs default (ms) | rewrite (ms) | default / rewrite | faster |',
  );
  console.log('| --- | ---: | ---: | ---: | --- |');
  for (const p of pairs) {
    const faster = p.tfjsDefault.ms <= p.rewrite.ms ? p.tfjsDefault.variant : p.rewrite.variant;
    console.log(
      `| ${p.label}, ${p.shape}: \`${p.tfjsDefault.variant}\` vs \`${p.rewrite.variant}\` | ` +
        `${p.tfjsDefault.ms.toFixed(1)} | ${p.rewrite.ms.toFixed(1)} | ` +
        `${(p.tfjsDefault.ms / p.rewrite.ms).toFixed(2)}× | ${faster} |`,
    );
  }
  console.log(`\nChoices on ${backend} (the lower total over the shapes):`);
  let mismatches = 0;
  for (const [operation, d] of Object.entries(decisions) as [Operation, (typeof decisions)[Operation]][]) {
    const agrees = table[operation] === d.wins;
    if (!agrees) mismatches += 1;
    console.log(
      `  ${operation}: tfjs default ${d.tfjsDefaultMs} ms, rewrite ${d.rewriteMs} ms → ${d.wins}` +
        `${d.close ? ` (within ${Math.round((CLOSE - 1) * 100)}%: close, rerun to confirm)` : ''}; ` +
        `src/engine/gatys/kernels.ts has ${table[operation]}${agrees ? '' : '  <-- DIFFERS: update the table'}`,
    );
  }
  if (!(KERNEL_BACKENDS as readonly string[]).includes(backend)) {
    console.log(`  (${backend} has no entry in the table: it gets the rewrites, unmeasured)`);
  }

  const vgg = await loadVgg19(WEIGHTS);
  console.log(`\nLargest single tensor per output pixel (tf.profile: max kernel output × 4 B / output pixels):`);
  const largest = await largestTensors(vgg, plan, values['skip-fast']);
  console.log('| Pass | Size | B per output pixel | Largest output |');
  console.log('| --- | ---: | ---: | --- |');
  for (const l of largest) {
    console.log(`| ${l.what} | ${l.size}² | ${l.bytesPerPixel.toFixed(1)} | ${l.kernel} [${l.shape.join(', ')}] |`);
  }

  let memory: Awaited<ReturnType<typeof peakMemory>> | undefined;
  if (!values['skip-memory']) {
    memory = await peakMemory(vgg, plan.memorySize);
    const mib = (bytes: number) => (bytes / 2 ** 20).toFixed(0);
    console.log(
      `\nPeak tensor memory of one step at ${memory.size}² (MiB, weights included): tfjs autodiff ` +
        `${mib(memory.autodiffBytes)}, engine ${mib(memory.byHandBytes)} ` +
        `(${(memory.autodiffBytes / memory.byHandBytes).toFixed(1)}×)`,
    );
  }
  vgg.dispose();

  const file = path.join(RESULTS_DIR, `kernels-${backend}.json`);
  await mkdir(RESULTS_DIR, { recursive: true });
  const report = {
    machine: machineInfo(load),
    backend: { ...info, skipped: info.skipped.map((s) => `${s.backend}: ${s.reason}`) },
    softwareAdapter: software,
    note: software
      ? 'Software WebGPU adapter (CPU-emulated): small shapes; not representative of a hardware GPU.'
      : undefined,
    runs: plan.runs,
    closeRatio: CLOSE,
    pairs,
    decisions,
    table,
    largestTensorPerPixel: largest,
    peakMemory: memory,
  };
  await writeFile(file, `${JSON.stringify(report, null, 2)}\n`);
  console.log(
    `\nWrote ${path.relative(REPO_ROOT, file)}${mismatches ? `; ${mismatches} choice(s) differ from the table` : ''}.`,
  );
  // The threaded wasm backend keeps worker threads alive.
  process.exit(0);
}

await main();
