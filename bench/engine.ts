// Engine benchmark: ms per Gatys step at 128², 256² and 512², and the wall time of a whole 256 px run, with the
// real VGG19. Prints a Markdown table for the README and writes the raw numbers to bench/results/engine-<backend>.json.
//
//   npm run bench                                   # everything (several minutes)
//   npm run bench -- --sizes 128,256 --steps 5 --skip-full
//   GRAMIAN_WEIGHTS=/path/to/vgg19 npm run bench    # other weights; --backend / --threads as in the CLI
//   npm run bench -- --only-fast                    # fast-style section only (--fast-sizes 256,512,1024)
//   npm run bench -- --skip-fast                    # Gatys only
//   npm run bench -- --tiled                        # tiled runs past one pass (bench/tiled.ts)
//
// The fast-style section times one feed-forward pass (ms per image, median of 5 after 1 warm-up) for one model of
// each architecture (ml5 udnie: Engstrom TransformNet; ncnn mosaic-9: PyTorch TransformerNet) and writes
// bench/results/fast-<backend>.json. engine-<backend>.json (the Gatys figures) is only written by a complete run.
//
// Every measurement runs in a child process of its own (`--child <size>` or `--child full`), because peak RSS is a
// per-process high-water mark: measuring 128² after 512² in one process would report 512²'s peak. Children print one
// result line on stdout; progress and logs go to stderr so stdout stays a clean, pasteable report.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import sharp from 'sharp';
import { type BackendInfo, initBackend } from '../src/engine/runtime/index.js';
import { findManifest, parseBackendChoice, type TransferParams } from '../src/engine/index.js';
import { fastTransfer, loadStyleModel, type StyleModelSource } from '../src/engine/fast-style/index.js';
import { gatysTransfer, loadVgg19 } from '../src/engine/gatys/index.js';
import { machineInfo, REPO_ROOT, SHARED } from './machine.js';

const SCRIPT = fileURLToPath(import.meta.url);
const CONTENT = path.join(SHARED, 'images/content/tubingen.jpg');
const STYLE = path.join(SHARED, 'images/style/starry_night.jpg');
const RESULTS_DIR = path.join(REPO_ROOT, 'bench/results');

const DEFAULT_SIZES = [128, 256, 512];
/** The first steps pay for kernel setup and allocator growth; they are not what a long run costs per step. */
const WARMUP_STEPS = 2;
const DEFAULT_MEASURED_STEPS = 5;
const FULL_SIZE = 256;
const FULL_STEPS = 100;
/** Marks the child's result line, so a stray console.log from a library cannot be mistaken for it. */
const RESULT_MARK = 'BENCH_RESULT ';

const DEFAULT_FAST_SIZES = [256, 512, 1024];
const FAST_WARMUP = 1;
const FAST_RUNS = 5;
/** One model of each architecture. */
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

interface Options {
  sizes: number[];
  steps: number;
  skipFull: boolean;
  skipFast: boolean;
  onlyFast: boolean;
  fastSizes: number[];
  backend: string | undefined;
  threads: number | undefined;
}

/** What every child reports besides its measurement. */
interface ChildCommon {
  backend: Omit<BackendInfo, 'skipped'> & { skipped: string[] };
  /** process.resourceUsage().maxRSS at the end of the child, in KiB. */
  peakRssKiB: number;
}

interface StepResult extends ChildCommon {
  kind: 'steps';
  width: number;
  height: number;
  warmup: number;
  stepMs: number[];
}

interface FullResult extends ChildCommon {
  kind: 'full';
  width: number;
  height: number;
  steps: number;
  wallMs: number;
}

interface FastResult extends ChildCommon {
  kind: 'fast';
  model: string;
  width: number;
  height: number;
  /** The forward pass of each timed run (the step event's ms). */
  forwardMs: number[];
  /** Each timed run from the call to the done event (decode, forward pass, PNG encode). */
  wallMs: number[];
  /** Peak bytes of tensors during the warm-up pass (tf.profile). */
  peakTensorBytes: number;
}

type ChildResult = StepResult | FullResult | FastResult;

// ---------------------------------------------------------------------------------------------------------------
// Arguments and inputs

function parseOptions(argv: string[]): Options & { child: string | undefined } {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      sizes: { type: 'string' },
      steps: { type: 'string' },
      'skip-full': { type: 'boolean' },
      'skip-fast': { type: 'boolean' },
      'only-fast': { type: 'boolean' },
      'fast-sizes': { type: 'string' },
      backend: { type: 'string' },
      threads: { type: 'string' },
      child: { type: 'string' },
    },
  });
  const positiveInt = (name: string, text: string): number => {
    const n = Number(text);
    if (!Number.isInteger(n) || n < 1) throw new Error(`--${name} needs positive integers, got "${text}"`);
    return n;
  };
  return {
    sizes: values.sizes ? values.sizes.split(',').map((s) => positiveInt('sizes', s.trim())) : DEFAULT_SIZES,
    steps: values.steps ? positiveInt('steps', values.steps) : DEFAULT_MEASURED_STEPS,
    skipFull: values['skip-full'] ?? false,
    skipFast: values['skip-fast'] ?? false,
    onlyFast: values['only-fast'] ?? false,
    fastSizes: values['fast-sizes']
      ? values['fast-sizes'].split(',').map((s) => positiveInt('fast-sizes', s.trim()))
      : DEFAULT_FAST_SIZES,
    backend: values.backend ?? process.env.GRAMIAN_BACKEND,
    threads: values.threads ? positiveInt('threads', values.threads) : undefined,
    child: values.child,
  };
}

/** The weights folder, checked up front so a missing download fails in one clear line rather than in every child. */
function weightsDir(): string {
  // GRAMIAN_WEIGHTS resolves against the working directory, as it does for the engine; the default against the repo.
  const env = process.env.GRAMIAN_WEIGHTS;
  const folder = env ? path.resolve(env) : path.resolve(REPO_ROOT, '../shared/models/vgg19-uint8-neuralpixels');
  if (!findManifest(folder)) {
    throw new Error(
      `VGG19 weights not found: ${folder} holds no TF.js weights manifest. ` +
        'Set GRAMIAN_WEIGHTS to a VGG19 weights folder (e.g. the one `npx gramian weights` creates).',
    );
  }
  return folder;
}

function checkImages(): void {
  for (const file of [CONTENT, STYLE]) {
    if (!existsSync(file)) throw new Error(`benchmark image missing: ${file}`);
  }
}

/** Tubingen cover-cropped to exactly N×N, so an "N²" row really is N×N pixels of work (the photo is 4:3). */
async function squareContent(size: number): Promise<Uint8Array> {
  return sharp(await readFile(CONTENT))
    .resize(size, size, { fit: 'cover' })
    .jpeg({ quality: 95 })
    .toBuffer();
}

// ---------------------------------------------------------------------------------------------------------------
// Child: one measurement in a fresh process

async function childSetup(options: Options) {
  const backend = await initBackend({
    backend: parseBackendChoice(options.backend),
    ...(options.threads ? { threads: options.threads } : {}),
    log: (message) => console.error(`  engine: ${message}`),
  });
  const vgg = await loadVgg19(weightsDir());
  const style = await readFile(STYLE);
  return { backend, vgg, style };
}

/**
 * Defaults otherwise (L-BFGS, default layers), but no previews: the CLI's default too, and a preview step converts
 * the image inside the timed part of the step, which would make every 10th step look slow.
 */
function benchParams(content: Uint8Array, style: Uint8Array, size: number, steps: number): TransferParams {
  return { content, styles: [{ image: style }], size, steps, previewEvery: 0 };
}

async function measureSteps(options: Options, size: number): Promise<Omit<StepResult, keyof ChildCommon>> {
  const { backend, vgg, style } = await childSetup(options);
  const wanted = WARMUP_STEPS + options.steps;
  // One step more than we keep: the run's final step skips the optimiser update, so it would be cheaper than the rest.
  const params = benchParams(await squareContent(size), style, size, wanted + 1);
  const stepMs: number[] = [];
  let dims = { width: 0, height: 0 };
  for await (const event of gatysTransfer(params, { vgg, backend: backend.backend })) {
    if (event.type === 'started') dims = { width: event.width, height: event.height };
    if (event.type !== 'step') continue;
    console.error(
      `  ${size}²: step ${event.step}/${wanted} ${event.ms.toFixed(0)} ms` +
        (event.step <= WARMUP_STEPS ? ' (warm-up)' : ''),
    );
    if (event.step > WARMUP_STEPS) stepMs.push(event.ms);
    // Leaving the loop returns the generator, whose finally frees the run's tensors.
    if (event.step === wanted) break;
  }
  return { kind: 'steps', ...dims, warmup: WARMUP_STEPS, stepMs };
}

/** A whole run as the CLI does it: tubingen at its own 4:3 aspect, timed from the call to the done event. */
async function measureFullRun(options: Options): Promise<Omit<FullResult, keyof ChildCommon>> {
  const { backend, vgg, style } = await childSetup(options);
  const params = benchParams(await readFile(CONTENT), style, FULL_SIZE, FULL_STEPS);
  const began = performance.now();
  for await (const event of gatysTransfer(params, { vgg, backend: backend.backend })) {
    if (event.type === 'step' && event.step % 10 === 0)
      console.error(`  full ${FULL_SIZE}: step ${event.step}/${FULL_STEPS}`);
    if (event.type === 'done') {
      return {
        kind: 'full',
        width: event.image.width,
        height: event.image.height,
        steps: event.steps,
        wallMs: performance.now() - began,
      };
    }
  }
  throw new Error('the run ended without a done event');
}

/** One fast-style model at size², in a process of its own: 1 warm-up pass (profiled for peak memory), then 5 timed. */
async function measureFast(
  options: Options,
  model: string,
  size: number,
): Promise<Omit<FastResult, keyof ChildCommon>> {
  const source = FAST_MODELS[model];
  if (!source) throw new Error(`unknown fast model "${model}" (valid: ${Object.keys(FAST_MODELS).join(', ')})`);
  const backend = await initBackend({
    backend: parseBackendChoice(options.backend),
    ...(options.threads ? { threads: options.threads } : {}),
    log: (message) => console.error(`  engine: ${message}`),
  });
  const network = await loadStyleModel(source);
  const content = await squareContent(size);
  const forwardMs: number[] = [];
  const wallMs: number[] = [];
  let dims = { width: 0, height: 0 };
  const once = async () => {
    const began = performance.now();
    let forward = 0;
    for await (const event of fastTransfer({ content, size }, { model: network, backend: backend.backend })) {
      if (event.type === 'step') forward = event.ms;
      if (event.type === 'done') dims = { width: event.image.width, height: event.image.height };
    }
    return { forward, wall: performance.now() - began };
  };
  let peakTensorBytes = 0;
  for (let i = 0; i < FAST_WARMUP; i++) {
    const info = await tf.profile(async () => {
      await once();
    });
    peakTensorBytes = Math.max(peakTensorBytes, info.peakBytes);
  }
  for (let i = 0; i < FAST_RUNS; i++) {
    const { forward, wall } = await once();
    console.error(`  ${model} ${size}²: forward ${forward.toFixed(0)} ms, whole run ${wall.toFixed(0)} ms`);
    forwardMs.push(forward);
    wallMs.push(wall);
  }
  network.dispose();
  return { kind: 'fast', model, ...dims, forwardMs, wallMs, peakTensorBytes };
}

async function runChild(options: Options, which: string): Promise<void> {
  const size = Number(which);
  const fast = /^fast:(\d+):(.+)$/.exec(which);
  if (!fast && which !== 'full' && !(Number.isInteger(size) && size > 0))
    throw new Error(`--child takes a size, "full" or "fast:<size>:<model>", got "${which}"`);
  const measured = fast
    ? await measureFast(options, fast[2]!, Number(fast[1]))
    : which === 'full'
      ? await measureFullRun(options)
      : await measureSteps(options, size);
  const info = await initBackend(); // already initialised: returns the same info
  const result = {
    ...measured,
    backend: { ...info, skipped: info.skipped.map((s) => `${s.backend}: ${s.reason}`) },
    peakRssKiB: process.resourceUsage().maxRSS,
  };
  // The threaded wasm backend keeps its pthread workers alive, so the process would never exit on its own.
  process.stdout.write(`${RESULT_MARK}${JSON.stringify(result)}\n`, () => process.exit(0));
}

// ---------------------------------------------------------------------------------------------------------------
// Parent: run the children one after another (they would compete for the cores) and report

function childArgs(options: Options, which: string): string[] {
  return [
    ...process.execArgv, // keeps `--import tsx`, so the child loads this .ts file the same way
    SCRIPT,
    '--child',
    which,
    '--steps',
    String(options.steps),
    ...(options.backend ? ['--backend', options.backend] : []),
    ...(options.threads ? ['--threads', String(options.threads)] : []),
  ];
}

function spawnChild(options: Options, which: string): Promise<ChildResult> {
  return new Promise((resolve, reject) => {
    // The weights folder goes over as an absolute path, so the child finds the same one whatever its cwd.
    const env = { ...process.env, ...(which.startsWith('fast:') ? {} : { GRAMIAN_WEIGHTS: weightsDir() }) };
    const child = spawn(process.execPath, childArgs(options, which), {
      cwd: REPO_ROOT,
      env,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let stdout = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      const line = stdout.split('\n').find((l) => l.startsWith(RESULT_MARK));
      if (code === 0 && line) resolve(JSON.parse(line.slice(RESULT_MARK.length)) as ChildResult);
      else
        reject(new Error(`benchmark child "${which}" failed (${signal ?? `exit code ${code}`}); its errors are above`));
    });
  });
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

const round1 = (n: number) => Math.round(n * 10) / 10;

/** Median, min and max of timings (ms), to one decimal, as the results files record them. */
function spread(ms: number[]) {
  return { medianMs: round1(median(ms)), minMs: round1(Math.min(...ms)), maxMs: round1(Math.max(...ms)) };
}
const mib = (kib: number) => Math.round(kib / 1024);

function header(backend: ChildCommon['backend'], loadAverage: number[]): string {
  const cpus = os.cpus();
  return [
    `- Backend: ${backend.backend}${backend.tfBackend === backend.backend ? '' : ` (tfjs ${backend.tfBackend})`}, ` +
      `${backend.threads} thread${backend.threads === 1 ? '' : 's'}, SIMD ${backend.simd ? 'yes' : 'no'}` +
      (backend.gpu ? ', GPU' : ''),
    `- TensorFlow.js ${backend.tfjsVersion}, Node ${process.version}`,
    `- CPU: ${cpus[0]?.model.trim() ?? 'unknown'}, ${os.availableParallelism()} cores ` +
      `(${os.platform()} ${os.arch()}); load average at start ${loadAverage.map((n) => n.toFixed(2)).join(' ')}`,
    `- Date: ${new Date().toISOString()}`,
  ].join('\n');
}

function stepTable(results: StepResult[]): string {
  const rows = results.map((r) => {
    const ms = r.stepMs;
    return (
      `| ${r.width}×${r.height} | ${median(ms).toFixed(0)} | ${Math.min(...ms).toFixed(0)} | ` +
      `${Math.max(...ms).toFixed(0)} | ${ms.length} | ${mib(r.peakRssKiB)} |`
    );
  });
  return [
    `Gatys step (L-BFGS, default layers, tubingen cropped square, starry_night; after ${WARMUP_STEPS} warm-up steps):`,
    '',
    '| Size | ms/step (median) | min | max | steps timed | Peak RSS (MiB) |',
    '| ---: | ---: | ---: | ---: | ---: | ---: |',
    ...rows,
  ].join('\n');
}

function fullTable(r: FullResult): string {
  return [
    `Whole run (tubingen at size ${FULL_SIZE}, starry_night, L-BFGS, no previews; from the call to the done event):`,
    '',
    '| Output | Steps | Wall time (s) | ms/step (mean) | Peak RSS (MiB) |',
    '| ---: | ---: | ---: | ---: | ---: |',
    `| ${r.width}×${r.height} | ${r.steps} | ${(r.wallMs / 1000).toFixed(1)} | ` +
      `${(r.wallMs / r.steps).toFixed(0)} | ${mib(r.peakRssKiB)} |`,
  ].join('\n');
}

/** The committed source of the README numbers: small, rounded, and without the per-run noise of logs. */
function resultsJson(
  options: Options,
  steps: StepResult[],
  full: FullResult | undefined,
  backend: ChildCommon['backend'],
  loadAverage: number[],
) {
  return {
    ...machineInfo(loadAverage),
    backend,
    weights: path.relative(REPO_ROOT, weightsDir()),
    images: { content: path.relative(REPO_ROOT, CONTENT), style: path.relative(REPO_ROOT, STYLE) },
    warmupSteps: WARMUP_STEPS,
    measuredSteps: options.steps,
    steps: steps.map((r) => ({
      width: r.width,
      height: r.height,
      ...spread(r.stepMs),
      stepMs: r.stepMs.map(round1),
      peakRssMiB: mib(r.peakRssKiB),
    })),
    full: full
      ? {
          width: full.width,
          height: full.height,
          steps: full.steps,
          wallMs: Math.round(full.wallMs),
          peakRssMiB: mib(full.peakRssKiB),
        }
      : null,
  };
}

function fastTable(results: FastResult[]): string {
  const rows = results.map((r) => {
    const ms = r.forwardMs;
    return (
      `| ${r.model} | ${r.width}×${r.height} | ${median(ms).toFixed(0)} | ${Math.min(...ms).toFixed(0)} | ` +
      `${Math.max(...ms).toFixed(0)} | ${median(r.wallMs).toFixed(0)} | ${Math.round(r.peakTensorBytes / 2 ** 20)} | ` +
      `${mib(r.peakRssKiB)} |`
    );
  });
  return [
    `Fast style, one forward pass (tubingen cropped square; median of ${FAST_RUNS} after ${FAST_WARMUP} warm-up; ` +
      'whole run = decode + pass + PNG encode):',
    '',
    '| Model | Size | ms/image (median) | min | max | whole run ms | Peak tensors (MiB) | Peak RSS (MiB) |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...rows,
  ].join('\n');
}

function fastJson(results: FastResult[], backend: ChildCommon['backend'], loadAverage: number[]) {
  return {
    ...machineInfo(loadAverage),
    backend,
    content: path.relative(REPO_ROOT, CONTENT),
    warmup: FAST_WARMUP,
    runs: FAST_RUNS,
    results: results.map((r) => ({
      model: r.model,
      width: r.width,
      height: r.height,
      ...spread(r.forwardMs),
      forwardMs: r.forwardMs.map(round1),
      wallMedianMs: round1(median(r.wallMs)),
      peakTensorMiB: Math.round(r.peakTensorBytes / 2 ** 20),
      peakRssMiB: mib(r.peakRssKiB),
    })),
  };
}

/** The fast-style section: a child per model and size, then its table and bench/results/fast-<backend>.json. */
async function runFast(options: Options, loadAverage: number[]): Promise<string | undefined> {
  if (!existsSync(CONTENT)) throw new Error(`benchmark image missing: ${CONTENT}`);
  const results: FastResult[] = [];
  for (const model of Object.keys(FAST_MODELS)) {
    for (const size of options.fastSizes) {
      console.error(`measuring fast style ${model} at ${size}² (${FAST_WARMUP} warm-up + ${FAST_RUNS} timed passes)…`);
      results.push((await spawnChild(options, `fast:${size}:${model}`)) as FastResult);
    }
  }
  const backend = results[0]?.backend;
  if (!backend) return undefined;
  await mkdir(RESULTS_DIR, { recursive: true });
  const file = path.join(RESULTS_DIR, `fast-${backend.backend}.json`);
  await writeFile(file, `${JSON.stringify(fastJson(results, backend, loadAverage), null, 2)}\n`);
  console.error(`wrote ${path.relative(REPO_ROOT, file)}`);
  return [header(backend, loadAverage), fastTable(results)].join('\n\n');
}

async function runParent(options: Options): Promise<void> {
  const loadAverage = os.loadavg();
  if (options.onlyFast) {
    const report = await runFast(options, loadAverage);
    if (report) console.log(`\n${report}\n`);
    return;
  }
  weightsDir();
  checkImages();
  const steps: StepResult[] = [];
  for (const size of options.sizes) {
    console.error(`measuring ${size}² (${WARMUP_STEPS} warm-up + ${options.steps} timed steps)…`);
    steps.push((await spawnChild(options, String(size))) as StepResult);
  }
  let full: FullResult | undefined;
  if (!options.skipFull) {
    console.error(`measuring a whole ${FULL_SIZE} px run of ${FULL_STEPS} steps…`);
    full = (await spawnChild(options, 'full')) as FullResult;
  }
  const backend = (steps[0] ?? full)?.backend;
  if (!backend) throw new Error('nothing to measure: give --sizes or drop --skip-full');
  const report = [
    header(backend, loadAverage),
    ...(steps.length ? [stepTable(steps)] : []),
    ...(full ? [fullTable(full)] : []),
  ];
  console.log(`\n${report.join('\n\n')}\n`);
  if (!options.skipFast) {
    const fast = await runFast(options, loadAverage);
    if (fast) console.log(`${fast.split('\n\n').slice(1).join('\n\n')}\n`);
  }
  // Only a complete run replaces the recorded figures the README quotes; quick partial runs just print.
  if (options.skipFull) return;
  await mkdir(RESULTS_DIR, { recursive: true });
  const file = path.join(RESULTS_DIR, `engine-${backend.backend}.json`);
  await writeFile(file, `${JSON.stringify(resultsJson(options, steps, full, backend, loadAverage), null, 2)}\n`);
  console.error(`wrote ${path.relative(REPO_ROOT, file)}`);
}

async function main(): Promise<void> {
  // `--tiled`: the runs past one pass's reach (bench/tiled.ts), with options of their own.
  if (process.argv.includes('--tiled')) return (await import('./tiled.js')).main(process.argv.slice(2));
  const { child, ...options } = parseOptions(process.argv.slice(2));
  if (child) await runChild(options, child);
  else await runParent(options);
}

main().catch((error: unknown) => {
  console.error(`bench: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
