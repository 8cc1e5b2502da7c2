// GPU benchmark of the engine on WebGPU (Dawn over Vulkan), built to be carried to a GPU machine that has no Node
// and no network: `npm run bench:gpu:pack` bundles this file with the engine into one .mjs and packs it with Node,
// Dawn, a Vulkan loader, the weights and the models (see bench/gpu/README.md).
//
// It measures, through the engine's own entry points:
// - ms per Gatys step (gatysTransfer: L-BFGS, default layers, no previews; each step evaluates VGG19 forward and
//   backward and the L-BFGS update on the GPU, reading back only the losses and two scalars, as in every run):
//   median of the timed steps after warm-up steps, the warm-up long enough to fill L-BFGS's history (20 pairs), so
//   the figure is what a step of a long run costs;
// - ms per fast-style pass (fastTransfer's step: the network and the read-back of its output), one model of each
//   architecture;
// - the adapter, its limits, the device tfjs made, tfjs's version and flags, and the largest sizes the engine allows.
// A size over the engine's limit is recorded as refused, with the largest that fits, as the engine words it.
//
// Every measurement runs in a child process of its own with a time limit, so that one that fails or hangs (a lost
// device, an out-of-memory) costs only its own figure. Results go to $OUT/engine.json as they come in;
// `--summary` later joins them with pytorch_gatys.py's $OUT/pytorch.json into $OUT/summary.{txt,json}.
//
//   node gpu-bench.mjs [--out DIR] [--data DIR]            # in the unpacked bundle (run.sh does this)
//   node gpu-bench.mjs --summary [--out DIR]
//   npm run bench:gpu -- --data bench/_gpu/gramian-gpu-bench  # from the repository, with tsx and real sharp
//
// Environment (all optional):
//   GRAMIAN_BENCH_SIZES=256,512,1024   Gatys sizes (square)       GRAMIAN_BENCH_FAST_SIZES=1024,2048
//   GRAMIAN_BENCH_WARMUP=20            warm-up steps              GRAMIAN_BENCH_STEPS=10 (timed steps)
//   GRAMIAN_BENCH_FAST_RUNS=5          timed passes (1 warm-up)   GRAMIAN_BENCH_FAST_MODELS=mosaic,udnie
//   GRAMIAN_BENCH_BUDGET_S=270         all children together      GRAMIAN_BENCH_CHILD_TIMEOUT_S=150
//   GRAMIAN_BENCH_LBFGS=0              skip timing the L-BFGS update alone (on the backend) at each Gatys size
//   GRAMIAN_BENCH_ALLOW_SOFTWARE=1     accept a software adapter (llvmpipe): for a proof run of the bundle only
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs';
// Its version only: the package itself must not load before the engine has put Dawn's navigator.gpu in place.
import webgpuBackendPackage from '@tensorflow/tfjs-backend-webgpu/package.json' with { type: 'json' };
import { initBackend, type BackendInfo } from '../../src/engine/runtime/index.js';
import { gatysTransfer, Lbfgs, loadVgg19, maxPixelsFor, type TransferParams } from '../../src/engine/gatys/index.js';
import {
  fastTransfer,
  loadStyleModel,
  maxFastPixelsFor,
  type StyleModelSource,
} from '../../src/engine/fast-style/index.js';
import { encodeRgb, largestSideWithin } from '../../src/engine/image/index.js';
import { decodePpm, resizeRgb, type RawImage } from './sharp-shim.js';

const SCRIPT = fileURLToPath(import.meta.url);
const HERE = path.dirname(SCRIPT);
/** In the bundle the data sit beside the script; from the repository, in the folder pack.ts stages. */
const DEFAULT_DATA = SCRIPT.endsWith('.ts') ? path.resolve(HERE, '../_gpu/gramian-gpu-bench') : HERE;
const RESULT_MARK = 'GPU_BENCH_RESULT ';
const LBFGS_HISTORY = 20;

/** One model of each architecture, as carried in the bundle's models/ folder. */
const FAST_MODELS: Record<string, (data: string) => StyleModelSource> = {
  mosaic: (data) => ({ architecture: 'pytorch', format: 'ncnn', path: path.join(data, 'models/mosaic-9.param') }),
  udnie: (data) => ({ architecture: 'engstrom', format: 'ml5-checkpoint', path: path.join(data, 'models/udnie') }),
};
const FAST_LABELS: Record<string, string> = {
  mosaic: 'mosaic (PyTorch TransformerNet, ncnn fp16)',
  udnie: 'udnie (Engstrom TransformNet, ml5)',
};

interface Settings {
  sizes: number[];
  fastSizes: number[];
  fastModels: string[];
  warmup: number;
  steps: number;
  fastRuns: number;
  budgetS: number;
  childTimeoutS: number;
  lbfgs: boolean;
  allowSoftware: boolean;
}

function intList(name: string, fallback: number[]): number[] {
  const text = process.env[name];
  if (!text) return fallback;
  return text.split(',').map((part) => {
    const n = Number(part.trim());
    if (!Number.isInteger(n) || n < 1) throw new Error(`${name} takes positive integers, got "${text}"`);
    return n;
  });
}

function int(name: string, fallback: number, min = 0): number {
  const text = process.env[name];
  if (text === undefined || text === '') return fallback;
  const n = Number(text);
  if (!Number.isInteger(n) || n < min) throw new Error(`${name} takes an integer ≥ ${min}, got "${text}"`);
  return n;
}

function settings(): Settings {
  const fastModels = (process.env.GRAMIAN_BENCH_FAST_MODELS ?? 'mosaic,udnie').split(',').map((s) => s.trim());
  for (const model of fastModels) {
    if (!FAST_MODELS[model]) throw new Error(`GRAMIAN_BENCH_FAST_MODELS: unknown "${model}" (mosaic, udnie)`);
  }
  return {
    sizes: intList('GRAMIAN_BENCH_SIZES', [256, 512, 1024]),
    fastSizes: intList('GRAMIAN_BENCH_FAST_SIZES', [1024, 2048]),
    fastModels: fastModels.filter(Boolean),
    // 20 warm-up steps: step n updates with n − 1 curvature pairs, so from step 21 on L-BFGS holds its full 20 and a
    // timed step costs what a step of a long run costs.
    warmup: int('GRAMIAN_BENCH_WARMUP', LBFGS_HISTORY),
    steps: int('GRAMIAN_BENCH_STEPS', 10, 1),
    fastRuns: int('GRAMIAN_BENCH_FAST_RUNS', 5, 1),
    budgetS: int('GRAMIAN_BENCH_BUDGET_S', 270, 1),
    childTimeoutS: int('GRAMIAN_BENCH_CHILD_TIMEOUT_S', 150, 1),
    lbfgs: process.env.GRAMIAN_BENCH_LBFGS !== '0',
    allowSoftware: process.env.GRAMIAN_BENCH_ALLOW_SOFTWARE === '1',
  };
}

const round1 = (n: number) => Math.round(n * 10) / 10;

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

function spread(ms: number[]) {
  if (ms.length === 0) return { medianMs: null, minMs: null, maxMs: null, ms: [] };
  return {
    medianMs: round1(median(ms)),
    minMs: round1(Math.min(...ms)),
    maxMs: round1(Math.max(...ms)),
    ms: ms.map(round1),
  };
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** The engine's refusal of a size (EngineInputError on `size`), told apart without importing the error classes. */
function isSizeRefusal(error: unknown): error is Error {
  const e = error as { code?: unknown; field?: unknown };
  return error instanceof Error && e.code === 'ENGINE_INPUT' && e.field === 'size';
}

// ---------------------------------------------------------------------------------------------------------------
// Child: the backend and what the GPU is

/** What tfjs's WebGPU backend holds, as far as this benchmark reads it. */
interface WebgpuBackendLike {
  device?: { limits?: object; features?: Iterable<string> };
  adapterInfo?: object;
}

async function startBackend(allowSoftware: boolean): Promise<BackendInfo> {
  const info = await initBackend({ backend: 'webgpu', log: (message) => console.error(`  engine: ${message}`) });
  if (info.adapter?.software && !allowSoftware) {
    throw new Error(
      `only a software adapter was found (${info.adapter.description}): these would not be GPU figures. ` +
        'Set GRAMIAN_BENCH_ALLOW_SOFTWARE=1 for a proof run of the bundle on a machine without a GPU.',
    );
  }
  return info;
}

/** Shared libraries of this process whose path matches (the Vulkan loader and driver actually loaded). */
function loadedLibraries(pattern: RegExp): string[] {
  try {
    const maps = readFileSync('/proc/self/maps', 'utf8');
    const found = new Set<string>();
    for (const line of maps.split('\n')) {
      const file = line.slice(line.indexOf('/'));
      if (line.includes('/') && pattern.test(path.basename(file))) found.add(file);
    }
    return [...found].sort();
  } catch {
    return [];
  }
}

function packageVersion(name: string): string | undefined {
  try {
    const requireHere = createRequire(import.meta.url);
    return (requireHere(`${name}/package.json`) as { version?: string }).version;
  } catch {
    return undefined;
  }
}

/** WebGPU's limit names (a native limits object may expose them as prototype getters, which Object.entries skips). */
const WEBGPU_LIMITS = [
  'maxTextureDimension1D',
  'maxTextureDimension2D',
  'maxTextureDimension3D',
  'maxTextureArrayLayers',
  'maxBindGroups',
  'maxBindingsPerBindGroup',
  'maxDynamicUniformBuffersPerPipelineLayout',
  'maxDynamicStorageBuffersPerPipelineLayout',
  'maxSampledTexturesPerShaderStage',
  'maxSamplersPerShaderStage',
  'maxStorageBuffersPerShaderStage',
  'maxStorageTexturesPerShaderStage',
  'maxUniformBuffersPerShaderStage',
  'maxUniformBufferBindingSize',
  'maxStorageBufferBindingSize',
  'minUniformBufferOffsetAlignment',
  'minStorageBufferOffsetAlignment',
  'maxVertexBuffers',
  'maxBufferSize',
  'maxVertexAttributes',
  'maxVertexBufferArrayStride',
  'maxInterStageShaderVariables',
  'maxColorAttachments',
  'maxColorAttachmentBytesPerSample',
  'maxComputeWorkgroupStorageSize',
  'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupSizeX',
  'maxComputeWorkgroupSizeY',
  'maxComputeWorkgroupSizeZ',
  'maxComputeWorkgroupsPerDimension',
];

/** The plain values of a WebIDL-like object (own, inherited and the names given). */
function plainValues(object: object | undefined, names: string[] = []): Record<string, unknown> {
  if (!object) return {};
  const out: Record<string, unknown> = {};
  const record = object as Record<string, unknown>;
  const keys = new Set<string>(names);
  for (const key in object) keys.add(key);
  for (const key of [...keys].sort()) {
    const value = record[key];
    if (['number', 'string', 'boolean', 'bigint'].includes(typeof value)) {
      out[key] = typeof value === 'bigint' ? Number(value) : value;
    }
  }
  return out;
}

async function probe(s: Settings) {
  const info = await startBackend(s.allowSoftware);
  const backend = tf.backend() as unknown as WebgpuBackendLike;
  const device = backend.device;
  const maxPixels = maxPixelsFor(info);
  const maxFastPixels = maxFastPixelsFor(info);
  return {
    kind: 'probe' as const,
    backend: info,
    deviceLimits: plainValues(device?.limits, WEBGPU_LIMITS),
    deviceFeatures: device?.features ? [...device.features].sort() : [],
    tfAdapterInfo: plainValues(backend.adapterInfo),
    versions: {
      ...tf.version,
      'tfjs-backend-webgpu': webgpuBackendPackage.version,
      webgpu: packageVersion('webgpu') ?? null,
      node: process.version,
    },
    tfFlags: tf.env().getFlags(),
    limits: {
      gatysMaxPixels: maxPixels,
      gatysLargestSquare: largestSideWithin(1, 1, maxPixels),
      fastMaxPixels: maxFastPixels,
      fastLargestSquare: largestSideWithin(1, 1, maxFastPixels),
    },
    vulkan: {
      icdFiles: process.env.VK_DRIVER_FILES ?? process.env.VK_ICD_FILENAMES ?? null,
      loaded: loadedLibraries(/vulkan|nvidia|lvp|GLX/i),
    },
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Child: Gatys steps at one size

/** A square N×N image from a carried base PPM, integer-resized, encoded as the engine's codec wants its input. */
async function squareImage(base: RawImage, size: number): Promise<Uint8Array> {
  const encoded = await encodeRgb(resizeRgb(base, size, size), 'png');
  return encoded.bytes;
}

async function readBase(data: string, name: string): Promise<RawImage> {
  return decodePpm(await readFile(path.join(data, 'images', `${name}.ppm`)));
}

/** Time left before the parent kills this child, in ms (the parent passes its deadline). */
function timeLeft(): number {
  const deadline = Number(process.env.GRAMIAN_BENCH_DEADLINE);
  return Number.isFinite(deadline) && deadline > 0 ? deadline - Date.now() : Number.POSITIVE_INFINITY;
}

async function gatysSteps(s: Settings, data: string, size: number) {
  const info = await startBackend(s.allowSoftware);
  const maxPixels = maxPixelsFor(info);
  const vgg = await loadVgg19(path.join(data, 'weights/vgg19'));
  const content = await squareImage(await readBase(data, 'content'), size);
  const style = await squareImage(await readBase(data, 'style'), size);
  // One step more than run: the last step of a run skips the L-BFGS update, so it would be cheaper than the rest.
  const planned = s.warmup + s.steps;
  const params: TransferParams = { content, styles: [{ image: style }], size, steps: planned + 1, previewEvery: 0 };
  const stepMs: number[] = [];
  const allMs: number[] = [];
  let warmup = s.warmup;
  /** The losses of the first steps, to compare with PyTorch's (same start, same L-BFGS: the same numbers). */
  const earlyLosses: Record<string, number>[] = [];
  let dims = { width: 0, height: 0 };
  const began = performance.now();
  try {
    for await (const event of gatysTransfer(params, { vgg, backend: info.backend, maxPixels })) {
      if (event.type === 'started') dims = { width: event.width, height: event.height };
      if (event.type !== 'step') continue;
      allMs.push(event.ms);
      if (event.step <= 3) {
        earlyLosses.push({
          content: event.contentLoss,
          style: event.styleLoss,
          tv: event.tvLoss,
          total: event.totalLoss,
        });
      }
      const timed = event.step > warmup;
      if (timed) stepMs.push(event.ms);
      console.error(`  gatys ${size}²: step ${event.step} ${event.ms.toFixed(1)} ms${timed ? '' : ' (warm-up)'}`);
      // Out of time: end the warm-up early (keeping at least 2 and then the timed steps) rather than lose the size.
      if (!timed) {
        const projected = event.ms * (warmup - event.step + s.steps) + 5000;
        if (event.step >= 2 && projected > timeLeft() * 0.7) {
          warmup = event.step;
          console.error(`  gatys ${size}²: short of time, warm-up cut to ${warmup} steps`);
        }
      }
      if (stepMs.length >= s.steps || (timed && event.ms * 2 > timeLeft())) break;
    }
  } catch (error) {
    if (isSizeRefusal(error)) {
      vgg.dispose();
      return {
        kind: 'gatys' as const,
        size,
        refused: error.message,
        largestSquare: largestSideWithin(1, 1, maxPixels),
      };
    }
    throw error;
  }
  const memory = tf.memory() as tf.MemoryInfo & { numBytesInGPU?: number; numBytesInGPUAllocated?: number };
  const kernels = (vgg as unknown as { kernels?: unknown }).kernels ?? null;
  vgg.dispose();
  const optimizer = s.lbfgs ? await lbfgsAlone(size, Math.min(3, s.steps)) : undefined;
  return {
    kind: 'gatys' as const,
    size,
    ...dims,
    warmup,
    timedSteps: stepMs.length,
    /** Curvature pairs L-BFGS held in the first and last timed step (step n holds min(20, n − 1)). */
    lbfgsPairs: [Math.min(LBFGS_HISTORY, warmup), Math.min(LBFGS_HISTORY, warmup + stepMs.length - 1)],
    ...spread(stepMs),
    firstStepsMs: allMs.slice(0, 3).map(round1),
    earlyLosses,
    wallS: round1((performance.now() - began) / 1000),
    kernels,
    tensorMemory: {
      numTensors: memory.numTensors,
      numBytes: memory.numBytes,
      numBytesInGPU: memory.numBytesInGPU ?? null,
      numBytesInGPUAllocated: memory.numBytesInGPUAllocated ?? null,
    },
    ...(optimizer ? { lbfgsUpdateAlone: optimizer } : {}),
  };
}

/**
 * The L-BFGS update alone (on the backend, as in a run: its curvature pairs are tensors there), on the same number of
 * pixels with a full history: the part of a step that is not VGG19. The objective is an ill-conditioned quadratic,
 * ½ Σ dᵢ (xᵢ − cᵢ)² with dᵢ in 1..100, so that every curvature pair is kept and 20 steps come nowhere near its minimum.
 */
async function lbfgsAlone(size: number, timed: number) {
  const n = size * size * 3;
  const c = new Float32Array(n);
  const d = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const hash = Math.imul(i + 1, 2654435761) >>> 0;
    c[i] = (hash % 1000) / 10 - 50;
    d[i] = 1 + ((hash >>> 10) % 100);
  }
  const shape: [number, number, number, number] = [1, size, size, 3];
  const centre = tf.tensor4d(c, shape);
  const diagonal = tf.tensor4d(d, shape);
  let x = tf.zeros<tf.Rank.R4>(shape);
  const optimizer = new Lbfgs(LBFGS_HISTORY);
  const ms: number[] = [];
  let last = 0;
  for (let k = 1; k <= LBFGS_HISTORY + 1 + timed; k++) {
    // Short of time (the child's Gatys figure is not out yet): stop, and say how many pairs were reached.
    if (timeLeft() < 3 * last + 5000) break;
    const gradient = tf.tidy(() => tf.mul<tf.Tensor4D>(diagonal, tf.sub(x, centre)));
    await gradient.data(); // the gradient is ready before the clock starts
    const t0 = performance.now();
    const next = await optimizer.step(x, gradient);
    await next.data(); // the update has run, not only been queued
    last = performance.now() - t0;
    tf.dispose([x, gradient]);
    x = next;
    // Step k holds min(20, k − 1) pairs: time those that hold all 20.
    if (k > LBFGS_HISTORY + 1) ms.push(last);
  }
  // Read for the record only (a private field): how many pairs the timed steps really held.
  const held = (optimizer as unknown as { steps?: unknown[] }).steps?.length ?? null;
  optimizer.dispose();
  tf.dispose([x, centre, diagonal]);
  return { history: LBFGS_HISTORY, pairsHeld: held, lastStepMs: round1(last), ...spread(ms) };
}

// ---------------------------------------------------------------------------------------------------------------
// Child: fast-style passes of one model at one size

async function fastPasses(s: Settings, data: string, model: string, size: number) {
  const info = await startBackend(s.allowSoftware);
  const maxPixels = maxFastPixelsFor(info);
  const network = await loadStyleModel(FAST_MODELS[model]!(data));
  const content = await squareImage(await readBase(data, 'content'), size);
  const forwardMs: number[] = [];
  const wallMs: number[] = [];
  let dims = { width: 0, height: 0 };
  const once = async () => {
    const t0 = performance.now();
    let forward = 0;
    for await (const event of fastTransfer({ content, size }, { model: network, backend: info.backend, maxPixels })) {
      if (event.type === 'started') dims = { width: event.width, height: event.height };
      if (event.type === 'step') forward = event.ms;
    }
    return { forward, wall: performance.now() - t0 };
  };
  let warmupMs: number;
  try {
    warmupMs = (await once()).forward;
  } catch (error) {
    network.dispose();
    if (isSizeRefusal(error)) {
      return {
        kind: 'fast' as const,
        model,
        label: FAST_LABELS[model],
        size,
        refused: error.message,
        largestSquare: largestSideWithin(1, 1, maxPixels),
      };
    }
    throw error;
  }
  console.error(`  ${model} ${size}²: warm-up pass ${warmupMs.toFixed(1)} ms`);
  for (let i = 0; i < s.fastRuns; i++) {
    if (i > 0 && median(forwardMs) * 2 > timeLeft()) break;
    const { forward, wall } = await once();
    console.error(`  ${model} ${size}²: pass ${forward.toFixed(1)} ms (run ${wall.toFixed(1)} ms)`);
    forwardMs.push(forward);
    wallMs.push(wall);
  }
  network.dispose();
  return {
    kind: 'fast' as const,
    model,
    label: FAST_LABELS[model],
    size,
    ...dims,
    warmupMs: round1(warmupMs),
    ...spread(forwardMs),
    wallMedianMs: round1(median(wallMs)),
  };
}

async function runChild(which: string, data: string): Promise<void> {
  const s = settings();
  const gatys = /^gatys:(\d+)$/.exec(which);
  const fast = /^fast:(\w+):(\d+)$/.exec(which);
  let result: unknown;
  if (which === 'probe') result = await probe(s);
  else if (gatys) result = await gatysSteps(s, data, Number(gatys[1]));
  else if (fast) result = await fastPasses(s, data, fast[1]!, Number(fast[2]));
  else throw new Error(`--child takes probe, gatys:<size> or fast:<model>:<size>, got "${which}"`);
  const withRss = { ...(result as object), peakRssMiB: Math.round(process.resourceUsage().maxRSS / 1024) };
  // Dawn's threads keep the process alive: leave once the line is out.
  process.stdout.write(`${RESULT_MARK}${JSON.stringify(withRss)}\n`, () => process.exit(0));
}

// ---------------------------------------------------------------------------------------------------------------
// Parent: the children one after another, within a time budget

interface ChildOutcome {
  which: string;
  ok: boolean;
  result?: Record<string, unknown>;
  error?: string;
  seconds: number;
}

/** How to start Node for a child: run.sh names its launcher (it may go through a carried glibc), else this Node. */
function nodeCommand(): [string, string[]] {
  const launcher = process.env.GRAMIAN_BENCH_NODE;
  if (launcher) return [launcher, []];
  return [process.execPath, [...process.execArgv]];
}

function runOne(which: string, data: string, timeoutS: number): Promise<ChildOutcome> {
  const began = Date.now();
  const [command, prefix] = nodeCommand();
  return new Promise((resolve) => {
    const env = { ...process.env, GRAMIAN_BENCH_DEADLINE: String(began + timeoutS * 1000) };
    const child = spawn(command, [...prefix, SCRIPT, '--child', which, '--data', data], {
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    // The child's messages go to the log as they come; the last of them also into the result, should it fail.
    let stderrTail = '';
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      process.stderr.write(chunk);
      stderrTail = (stderrTail + chunk).slice(-4000);
    });
    let pending = '';
    let resultLine: string | undefined;
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutS * 1000);
    const take = (line: string) => {
      if (line.startsWith(RESULT_MARK)) resultLine = line.slice(RESULT_MARK.length);
      // Anything else (a library's console.log) still belongs in the log.
      else if (line.trim()) console.error(`  [${which}] ${line}`);
    };
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      const lines = (pending + chunk).split('\n');
      pending = lines.pop()!;
      lines.forEach(take);
    });
    const finish = (outcome: Omit<ChildOutcome, 'which' | 'seconds'>) => {
      clearTimeout(timer);
      resolve({ which, seconds: round1((Date.now() - began) / 1000), ...outcome });
    };
    child.on('error', (error) => finish({ ok: false, error: `could not start: ${error.message}` }));
    child.on('close', (code, signal) => {
      take(pending);
      if (code === 0 && resultLine) {
        finish({ ok: true, result: JSON.parse(resultLine) as Record<string, unknown> });
      } else if (timedOut) {
        finish({ ok: false, error: `timed out after ${timeoutS} s (killed)` });
      } else {
        const last = stderrTail
          .split('\n')
          .filter((line) => line.trim() && !/^\s+at |^Warning: /.test(line))
          .slice(-3)
          .join(' | ');
        finish({ ok: false, error: `failed (${signal ?? `exit code ${code}`}): ${last || 'no message'}` });
      }
    });
  });
}

function bundleManifest(data: string): unknown {
  try {
    return JSON.parse(readFileSync(path.join(data, 'BUNDLE.json'), 'utf8')) as unknown;
  } catch {
    return null;
  }
}

async function orchestrate(data: string, out: string): Promise<number> {
  const s = settings();
  await mkdir(out, { recursive: true });
  const file = path.join(out, 'engine.json');
  const began = Date.now();
  const report = {
    kind: 'gramian-gpu-bench',
    date: new Date().toISOString(),
    host: { hostname: os.hostname(), cpu: os.cpus()[0]?.model.trim() ?? 'unknown', cores: os.availableParallelism() },
    settings: s,
    bundle: bundleManifest(data),
    probe: null as Record<string, unknown> | null,
    gatys: [] as Record<string, unknown>[],
    fast: [] as Record<string, unknown>[],
    failures: [] as { which: string; error: string }[],
    wallS: 0,
  };
  const save = async () => {
    report.wallS = round1((Date.now() - began) / 1000);
    await writeFile(file, `${JSON.stringify(report, null, 2)}\n`);
  };
  console.error(`gpu-bench: data ${data}, results ${file}`);
  const probed = await runOne('probe', data, Math.min(90, s.childTimeoutS));
  if (!probed.ok) {
    report.failures.push({ which: 'probe', error: probed.error! });
    await save();
    console.error(`gpu-bench: the WebGPU backend did not start: ${probed.error}`);
    return 2;
  }
  report.probe = probed.result!;
  const adapter = (probed.result!.backend as BackendInfo).adapter;
  console.error(`gpu-bench: adapter ${adapter?.description ?? '?'} (${adapter?.vendor ?? '?'})`);
  await save();
  // 512² first: the size the goal is set at, measured even if the budget runs out later.
  const gatysSizes = [...s.sizes.filter((size) => size === 512), ...s.sizes.filter((size) => size !== 512)];
  const jobs = [
    ...gatysSizes.map((size) => `gatys:${size}`),
    ...s.fastSizes.flatMap((size) => s.fastModels.map((model) => `fast:${model}:${size}`)),
  ];
  for (const which of jobs) {
    const left = s.budgetS - (Date.now() - began) / 1000;
    if (left < 10) {
      report.failures.push({ which, error: `skipped: the ${s.budgetS} s budget was spent` });
      continue;
    }
    console.error(`gpu-bench: ${which}`);
    const outcome = await runOne(which, data, Math.min(s.childTimeoutS, Math.floor(left)));
    if (outcome.ok) {
      const result = { ...outcome.result!, childS: outcome.seconds };
      (which.startsWith('gatys') ? report.gatys : report.fast).push(result);
    } else {
      report.failures.push({ which, error: outcome.error! });
      console.error(`gpu-bench: ${which} ${outcome.error}`);
    }
    await save();
  }
  await save();
  console.error(`gpu-bench: done in ${report.wallS} s`);
  return 0;
}

// ---------------------------------------------------------------------------------------------------------------
// Summary: the engine's figures beside PyTorch's, for the README

interface GatysRow {
  size: number;
  medianMs?: number | null;
  minMs?: number | null;
  maxMs?: number | null;
  timedSteps?: number;
  warmup?: number;
  refused?: string;
  earlyLosses?: Record<string, number>[];
  lbfgsUpdateAlone?: { medianMs: number | null; pairsHeld?: number | null; lastStepMs?: number };
}

interface PytorchRow {
  size: number;
  precision: string;
  medianMs?: number | null;
  earlyLosses?: Record<string, number>[];
  error?: string;
}

function readJson(file: string): Record<string, unknown> | undefined {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}

const fmt = (n: number | null | undefined, digits = 1) => (typeof n === 'number' ? n.toFixed(digits) : '—');

/**
 * The largest relative difference between two runs' loss terms (those that count) over their first two steps: the start
 * and one steepest-descent step. From the third on, L-BFGS's first curvature pair is the difference of two nearly equal
 * gradients, which amplifies float rounding, so later steps of two correct implementations drift apart (~1%).
 */
function relativeDifference(a?: Record<string, number>[], b?: Record<string, number>[]): string {
  if (!a?.length || !b?.length) return '—';
  const terms: number[] = [];
  const steps = Math.min(a.length, b.length, 2);
  for (let i = 0; i < steps; i++) {
    for (const key of ['content', 'style', 'tv']) {
      const [x, y] = [a[i]![key], b[i]![key]];
      // A term below a millionth of the total (the content term just after the start) is all rounding noise.
      const total = Math.abs(b[i]!.total ?? 0);
      if (typeof x === 'number' && typeof y === 'number' && y !== 0 && Math.abs(y) >= total * 1e-6) {
        terms.push(Math.abs(x - y) / Math.abs(y));
      }
    }
  }
  return terms.length ? `${(Math.max(...terms) * 100).toFixed(4)}% (${steps} steps)` : '—';
}

async function summarize(out: string): Promise<void> {
  const engine = readJson(path.join(out, 'engine.json'));
  const torch = readJson(path.join(out, 'pytorch.json'));
  const probeResult = engine?.probe as
    { backend?: BackendInfo; limits?: Record<string, number>; versions?: Record<string, string> } | null | undefined;
  const adapter = probeResult?.backend?.adapter;
  const gatys = (engine?.gatys ?? []) as GatysRow[];
  const fast = (engine?.fast ?? []) as (GatysRow & { model: string; label?: string })[];
  const torchRows = (torch?.gatys ?? []) as PytorchRow[];
  const torchAt = (size: number, precision: string) =>
    torchRows.find((r) => r.size === size && r.precision === precision && typeof r.medianMs === 'number');
  // The goals are about a GPU against PyTorch on CUDA: a software adapter or PyTorch on the CPU says nothing of them.
  const comparable = adapter !== undefined && !adapter.software;
  const onCuda = typeof torch?.device === 'string' && torch.device.startsWith('cuda');
  const pt = `PyTorch ${onCuda ? 'CUDA' : 'CPU'}`;
  const lines: string[] = [];
  lines.push('# Gramian GPU benchmark');
  lines.push('');
  if (adapter) {
    lines.push(
      `- WebGPU adapter: ${adapter.description} (vendor ${adapter.vendor}, architecture ${adapter.architecture}` +
        `${adapter.software ? ', SOFTWARE: not GPU figures' : ''})`,
    );
    lines.push(`- Limits: ${JSON.stringify(adapter.limits)}`);
  } else {
    lines.push(`- WebGPU: no adapter (${JSON.stringify(engine?.failures ?? 'no engine.json')})`);
  }
  if (probeResult?.limits) {
    const { gatysLargestSquare, fastLargestSquare } = probeResult.limits;
    lines.push(`- Engine limits: Gatys ≤ ${gatysLargestSquare}², fast ≤ ${fastLargestSquare}²`);
  }
  if (probeResult?.versions) {
    const v = probeResult.versions;
    lines.push(`- tfjs ${v['tfjs-core']}, tfjs-backend-webgpu ${v['tfjs-backend-webgpu']}, webgpu (Dawn) ${v.webgpu}`);
  }
  if (torch) {
    lines.push(
      `- PyTorch ${String(torch.torch)} on ${String(torch.deviceName)} (${String(torch.device)}), ` +
        `cuDNN ${String(torch.cudnn)}`,
    );
  }
  lines.push('');
  lines.push('Gatys step (L-BFGS, default layers, tubingen/starry_night squares), ms, median of the timed steps:');
  lines.push('');
  lines.push(
    `| Size | Gramian WebGPU | (min–max, steps) | L-BFGS update alone | the rest (GPU, read-back) | ` +
      `${pt} fp32 | ratio | ` +
      `${pt} TF32 | ratio | losses vs ${pt} fp32 |`,
  );
  lines.push('| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  const sizes = [...new Set([...gatys.map((g) => g.size), ...torchRows.map((r) => r.size)])].sort((a, b) => a - b);
  const ratios: Record<number, number> = {};
  for (const size of sizes) {
    const g = gatys.find((r) => r.size === size);
    const fp32 = torchAt(size, 'fp32');
    const tf32 = torchAt(size, 'tf32');
    const ours = typeof g?.medianMs === 'number' ? g.medianMs : undefined;
    const ratio = (p?: PytorchRow) => (ours && p?.medianMs ? (ours / p.medianMs).toFixed(2) : '—');
    if (ours && fp32?.medianMs) ratios[size] = ours / fp32.medianMs;
    const cell = g?.refused ? `refused` : fmt(ours);
    const alone = g?.lbfgsUpdateAlone;
    const lbfgs =
      typeof alone?.medianMs === 'number'
        ? fmt(alone.medianMs)
        : alone?.lastStepMs
          ? `${fmt(alone.lastStepMs)} (${alone.pairsHeld} pairs)`
          : '—';
    const rest = ours && typeof alone?.medianMs === 'number' ? fmt(ours - alone.medianMs) : '—';
    lines.push(
      `| ${size}² | ${cell} | ${g && !g.refused ? `${fmt(g.minMs)}–${fmt(g.maxMs)}, ${g.timedSteps}` : '—'} | ` +
        `${lbfgs} | ${rest} | ${fmt(fp32?.medianMs)} | ${ratio(fp32)} | ` +
        `${fmt(tf32?.medianMs)} | ${ratio(tf32)} | ${relativeDifference(g?.earlyLosses, fp32?.earlyLosses)} |`,
    );
    if (g?.refused) lines.push(`|  | ${g.refused} |  |  |  |  |  |  |  |  |`);
  }
  lines.push('');
  if (fast.length) {
    lines.push('Fast style, one pass (network + read-back), ms, median:');
    lines.push('');
    lines.push('| Model | Size | ms | min–max |');
    lines.push('| --- | ---: | ---: | ---: |');
    for (const f of fast) {
      lines.push(
        `| ${f.label ?? f.model} | ${f.size}² | ${f.refused ? `refused: ${f.refused}` : fmt(f.medianMs)} | ` +
          `${f.refused ? '' : `${fmt(f.minMs)}–${fmt(f.maxMs)}`} |`,
      );
    }
    lines.push('');
  }
  const at512 = comparable ? gatys.find((g) => g.size === 512)?.medianMs : undefined;
  if (!comparable || !onCuda) for (const size of Object.keys(ratios)) delete ratios[Number(size)];
  const goals = {
    gatys512Ms: typeof at512 === 'number' ? at512 : null,
    gatys512Goal: 50,
    gatys512Met: typeof at512 === 'number' ? at512 <= 50 : null,
    ratioToPytorchFp32: Object.fromEntries(Object.entries(ratios).map(([k, v]) => [k, Math.round(v * 100) / 100])),
    ratioGoal: 1.5,
    ratioMet: Object.keys(ratios).length ? Object.values(ratios).every((r) => r <= 1.5) : null,
  };
  lines.push(
    `Goals: 512² step ≤ 50 ms: ${goals.gatys512Met === null ? 'not measured' : goals.gatys512Met ? 'met' : 'NOT met'}` +
      ` (${fmt(goals.gatys512Ms)} ms); ratio to PyTorch CUDA fp32 ≤ 1.5: ` +
      `${goals.ratioMet === null ? 'not measured' : goals.ratioMet ? 'met' : 'NOT met'}` +
      ` (${
        Object.entries(goals.ratioToPytorchFp32)
          .map(([k, v]) => `${k}²: ${v}`)
          .join(', ') || '—'
      })`,
  );
  const failures = [
    ...((engine?.failures ?? []) as { which: string; error: string }[]).map((f) => `engine ${f.which}: ${f.error}`),
    ...torchRows.filter((r) => r.error).map((r) => `pytorch ${r.size}² ${r.precision}: ${r.error}`),
    ...(torch ? [] : ['pytorch: no pytorch.json']),
  ];
  if (failures.length) lines.push('', 'Not measured:', ...failures.map((f) => `- ${f}`));
  const text = `${lines.join('\n')}\n`;
  process.stdout.write(text);
  await writeFile(path.join(out, 'summary.txt'), text);
  await writeFile(
    path.join(out, 'summary.json'),
    `${JSON.stringify({ adapter: adapter ?? null, goals, gatys, fast, pytorch: torchRows }, null, 2)}\n`,
  );
}

// ---------------------------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const { values } = parseArgs({
    args: process.argv.slice(2),
    strict: true,
    options: {
      child: { type: 'string' },
      data: { type: 'string' },
      out: { type: 'string' },
      summary: { type: 'boolean' },
    },
  });
  const data = path.resolve(values.data ?? process.env.GRAMIAN_BENCH_DATA ?? DEFAULT_DATA);
  const out = path.resolve(values.out ?? process.env.OUT ?? path.join(data, 'out'));
  if (values.summary) return summarize(out);
  if (!existsSync(path.join(data, 'weights/vgg19'))) {
    throw new Error(`no benchmark data in ${data} (weights/vgg19 missing): run \`npm run bench:gpu:pack\` first`);
  }
  if (values.child) return runChild(values.child, data);
  process.exitCode = await orchestrate(data, out);
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? (error.stack ?? error.message) : messageOf(error));
  process.exit(1);
});
