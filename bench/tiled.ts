// Tiled runs, past what one pass holds: peak RSS and wall time of Gatys at 1024² and 2048² and of fast style at 2048²
// and 4096², through the engine as the server and the CLI run it (a worker thread, the backend's limits, the quality
// score at the end). Prints a Markdown table for the README and writes bench/results/tiled-<backend>.json.
//
//   npm run bench -- --tiled                          # all four (about 15 minutes on 2 wasm threads)
//   npm run bench -- --tiled --steps 2 --only gatys:1024,fast:2048
//
// Each measurement runs in a process of its own (peak RSS is a per-process high-water mark). Gatys runs `--steps`
// steps per scale and per tile (default 4: the wall time is then mostly per-step cost; the table also gives seconds
// per step of the finest scale), fast style one pass of mosaic (PyTorch TransformerNet, ncnn).
import { spawn } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Engine, parseBackendChoice, type Job, type StartedEvent, type StepEvent } from '../src/engine/index.js';
import { machineInfo, REPO_ROOT, SHARED } from './machine.js';

const CONTENT = path.join(SHARED, 'images/content/tubingen.jpg');
const STYLE = path.join(SHARED, 'images/style/starry_night.jpg');
const MOSAIC = path.join(SHARED, 'models/pytorch-fns-ncnn-fp16/mosaic-9.param');
const WEIGHTS = path.join(SHARED, 'models/vgg19-uint8-neuralpixels');
const RESULTS_DIR = path.join(REPO_ROOT, 'bench/results');
const RESULT_MARK = 'BENCH_RESULT ';
const CASES = ['gatys:1024', 'gatys:2048', 'fast:2048', 'fast:4096'];
/** The threaded wasm heap's ceiling: what a run's peak RSS is compared with. */
const WASM_CAP_MIB = 4096;

interface Result {
  case: string;
  width: number;
  height: number;
  backend: string;
  scaleSizes: number[];
  /** Tiles of each scale (1: whole). */
  tiles: number[];
  totalSteps: number;
  wallMs: number;
  /** Mean wall time of a step at the finest scale (Gatys). */
  finestStepMs?: number;
  peakRssMiB: number;
  quality?: { style: number | null; content: number };
}

async function runChild(which: string, steps: number, backend: string | undefined): Promise<void> {
  const [kind, side] = which.split(':');
  const size = Number(side);
  const content = await readFile(CONTENT);
  const job: Job =
    kind === 'gatys'
      ? { kind: 'GATYS', params: { content, styles: [{ image: await readFile(STYLE) }], size, steps, previewEvery: 0 } }
      : { kind: 'FAST', params: { content, size, model: { architecture: 'pytorch', format: 'ncnn', path: MOSAIC } } };
  const engine = await Engine.start({
    backend: parseBackendChoice(backend),
    weightsDir: WEIGHTS,
    log: (message) => console.error(`  engine: ${message}`),
  });
  try {
    const began = performance.now();
    let started: StartedEvent | undefined;
    const tiles = new Map<number, number>();
    const finest: number[] = [];
    let done: Result | undefined;
    for await (const event of engine.run(job)) {
      if (event.type === 'started') started = event;
      if (event.type === 'step') {
        const step: StepEvent = event;
        tiles.set(step.scale, step.tiles ?? 1);
        if (started && step.scale === started.scaleSizes.length) finest.push(step.ms);
        if (step.step % 10 === 0) console.error(`  ${which}: step ${step.step}/${step.totalSteps}`);
      }
      if (event.type === 'done') {
        done = {
          case: which,
          width: event.image.width,
          height: event.image.height,
          backend: started!.backend,
          scaleSizes: started!.scaleSizes,
          tiles: started!.scaleSizes.map((_, i) => tiles.get(i + 1) ?? 1),
          totalSteps: started!.totalSteps,
          wallMs: performance.now() - began,
          ...(kind === 'gatys' ? { finestStepMs: finest.reduce((a, b) => a + b, 0) / finest.length } : {}),
          peakRssMiB: 0,
          ...(event.quality ? { quality: event.quality } : {}),
        };
      }
    }
    if (!done) throw new Error(`${which} ended without a result`);
    // maxRSS covers the whole process: the engine's worker thread and its wasm heap included.
    done.peakRssMiB = Math.round(process.resourceUsage().maxRSS / 1024);
    console.log(`${RESULT_MARK}${JSON.stringify(done)}`);
  } finally {
    await engine.close();
  }
}

function spawnChild(which: string, steps: number, backend: string | undefined): Promise<Result> {
  return new Promise((resolve, reject) => {
    const args = ['--import', 'tsx', 'bench/tiled.ts', '--child', which, '--steps', String(steps)];
    const child = spawn(process.execPath, [...args, ...(backend ? ['--backend', backend] : [])], {
      cwd: REPO_ROOT,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let stdout = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      const line = stdout.split('\n').find((l) => l.startsWith(RESULT_MARK));
      if (code === 0 && line) resolve(JSON.parse(line.slice(RESULT_MARK.length)) as Result);
      else reject(new Error(`tiled bench "${which}" failed (${signal ?? `exit code ${code}`}); its errors are above`));
    });
  });
}

function table(results: Result[], steps: number): string {
  const rows = results.map((r) => {
    const plan = r.scaleSizes.map((s, i) => (r.tiles[i]! > 1 ? `${s} (${r.tiles[i]} tiles)` : `${s}`)).join(' → ');
    const perStep = r.finestStepMs !== undefined ? `${(r.finestStepMs / 1000).toFixed(1)} s` : '–';
    const quality = r.quality
      ? `${r.quality.style === null ? '–' : r.quality.style.toFixed(3)} / ${r.quality.content.toFixed(3)}`
      : '–';
    return (
      `| ${r.case.replace(':', ' ')} | ${r.width}×${r.height} | ${plan} | ${r.totalSteps} | ` +
      `${(r.wallMs / 1000).toFixed(0)} s | ${perStep} | ${r.peakRssMiB} MiB | ${quality} |`
    );
  });
  return [
    `Gatys: ${steps} steps per scale and per tile; fast: one pass of mosaic. Peak RSS is the whole process's ` +
      `(the wasm heap stops at ${WASM_CAP_MIB} MiB).`,
    '',
    '| Run | Output | Scales (coarse → fine) | Steps | Wall time | Finest step | Peak RSS | Quality (style/content) |',
    '| --- | --- | --- | ---: | ---: | ---: | ---: | ---: |',
    ...rows,
  ].join('\n');
}

export async function main(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      tiled: { type: 'boolean' },
      child: { type: 'string' },
      steps: { type: 'string' },
      only: { type: 'string' },
      backend: { type: 'string' },
    },
  });
  const steps = Number(values.steps ?? 4);
  if (values.child) return runChild(values.child, steps, values.backend);
  const loadAverage = os.loadavg();
  const cases = values.only ? values.only.split(',') : CASES;
  const results: Result[] = [];
  for (const which of cases) {
    console.error(`measuring ${which}…`);
    results.push(await spawnChild(which, steps, values.backend));
  }
  console.log(`\n${table(results, steps)}\n`);
  if (values.only) return;
  await mkdir(RESULTS_DIR, { recursive: true });
  const file = path.join(RESULTS_DIR, `tiled-${results[0]!.backend}.json`);
  await writeFile(file, `${JSON.stringify({ machine: machineInfo(loadAverage), steps, results }, null, 2)}\n`);
  console.error(`wrote ${path.relative(REPO_ROOT, file)}`);
}

if (process.argv[1] && path.resolve(process.argv[1]) === path.resolve(REPO_ROOT, 'bench/tiled.ts')) {
  main(process.argv.slice(2)).catch((error: unknown) => {
    console.error(`bench: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  });
}
