// `gramian` command line: stylize images, fetch weights, and show what the engine runs on. Scripts use it
// without the server.
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import { parseBackendChoice } from '../engine/backend-choice.js';
import { Engine } from '../engine/engine.js';
import { EngineInputError } from '../engine/errors.js';
import { GATYS_DEFAULTS, resolveTransferParams, type TransferParams } from '../engine/params.js';
import { fetchVggWeights, convertKerasVgg19 } from '../engine/weights-fetch.js';
import { vggCacheDir } from '../engine/weight-paths.js';
import { ProgressBar, formatBytes } from './progress.js';

const USAGE = `Usage:
  gramian stylize --content <image> --style <image> [--style <image> …] --out <file> [options]
  gramian weights [--from <vgg19 .h5 file>]      fetch (or convert) VGG19 into ${vggCacheDir()}
  gramian info                                   show the backend and weights the engine uses

stylize options (defaults in brackets):
  --style-weights <w1,w2,…>   blend weights, one per --style [equal]
  --size <px>                 longest side of the output [${GATYS_DEFAULTS.size}]
  --steps <n>                 optimisation steps per scale [${GATYS_DEFAULTS.steps}]
  --optimizer lbfgs|adam      [${GATYS_DEFAULTS.optimizer}]
  --learning-rate <x>         [1 for lbfgs, 10 for adam]
  --content-weight <x>        [${GATYS_DEFAULTS.contentWeight}]
  --style-weight <x>          [${GATYS_DEFAULTS.styleWeight}]
  --tv-weight <x>             [${GATYS_DEFAULTS.tvWeight}]
  --content-layers <a,b>      [${GATYS_DEFAULTS.contentLayers.join(',')}]
  --style-layers <a,b,…>      [${GATYS_DEFAULTS.styleLayers.join(',')}]
  --pooling max|avg           [${GATYS_DEFAULTS.pooling}]
  --init content|noise|image  [${GATYS_DEFAULTS.init}]   (--init-image <file> for image)
  --seed <n>                  noise seed [${GATYS_DEFAULTS.seed}]
  --style-scale <x>           style image size relative to --size [${GATYS_DEFAULTS.styleScale}]
  --scales <n>                coarse-to-fine scales, each twice the previous [${GATYS_DEFAULTS.scales}]
  --preserve-colors           keep the content's colours (luminance-only transfer)
  --preview-every <n>         write previews every n steps into --preview-dir [off]
  --preview-dir <folder>
  --backend auto|tensorflow-gpu|tensorflow|wasm|cpu   [auto, or GRAMIAN_BACKEND]
  --threads <n>               wasm threads [all cores]
  --weights <folder>          VGG19 weights folder [GRAMIAN_WEIGHTS, then the cache]
  --quiet                     no progress bar or loss lines`;

function numberOption(values: Record<string, unknown>, name: string): number | undefined {
  const raw = values[name];
  if (raw === undefined) return undefined;
  const value = Number(raw);
  if (raw === '' || Number.isNaN(value)) throw new EngineInputError(`--${name}`, `"${String(raw)}" is not a number`);
  return value;
}

function listOption(values: Record<string, unknown>, name: string): string[] | undefined {
  const raw = values[name];
  return typeof raw === 'string' ? raw.split(',').map((s) => s.trim()).filter(Boolean) : undefined;
}

async function readInput(file: string, field: string): Promise<Uint8Array> {
  try {
    return await readFile(file);
  } catch (error) {
    throw new EngineInputError(field, `cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
}

async function writeOutput(file: string, png: Uint8Array): Promise<void> {
  const ext = path.extname(file).toLowerCase();
  const image = sharp(png);
  const bytes = ext === '.jpg' || ext === '.jpeg' ? await image.jpeg({ quality: 92 }).toBuffer() : ext === '.webp' ? await image.webp({ quality: 92 }).toBuffer() : png;
  await mkdir(path.dirname(path.resolve(file)), { recursive: true });
  await writeFile(file, bytes);
}

async function stylize(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      content: { type: 'string' },
      style: { type: 'string', multiple: true },
      'style-weights': { type: 'string' },
      out: { type: 'string', short: 'o' },
      size: { type: 'string' },
      steps: { type: 'string' },
      optimizer: { type: 'string' },
      'learning-rate': { type: 'string' },
      'content-weight': { type: 'string' },
      'style-weight': { type: 'string' },
      'tv-weight': { type: 'string' },
      'content-layers': { type: 'string' },
      'style-layers': { type: 'string' },
      pooling: { type: 'string' },
      init: { type: 'string' },
      'init-image': { type: 'string' },
      seed: { type: 'string' },
      'style-scale': { type: 'string' },
      scales: { type: 'string' },
      'preserve-colors': { type: 'boolean' },
      'preview-every': { type: 'string' },
      'preview-dir': { type: 'string' },
      backend: { type: 'string' },
      threads: { type: 'string' },
      weights: { type: 'string' },
      quiet: { type: 'boolean' },
    },
  });
  if (!values.content) throw new EngineInputError('--content', 'is required');
  if (!values.style?.length) throw new EngineInputError('--style', 'is required (repeat it for several styles)');
  if (!values.out) throw new EngineInputError('--out', 'is required');
  const blend = listOption(values, 'style-weights')?.map(Number);
  if (blend && blend.length !== values.style.length) {
    throw new EngineInputError('--style-weights', `has ${blend.length} values for ${values.style.length} --style images`);
  }
  if (values['preview-every'] && !values['preview-dir']) throw new EngineInputError('--preview-dir', 'is required with --preview-every');
  const params: TransferParams = {
    content: await readInput(values.content, '--content'),
    styles: await Promise.all(values.style.map(async (file, i) => ({ image: await readInput(file, '--style'), weight: blend?.[i] ?? 1 }))),
    size: numberOption(values, 'size'),
    steps: numberOption(values, 'steps'),
    optimizer: values.optimizer as TransferParams['optimizer'],
    learningRate: numberOption(values, 'learning-rate'),
    contentWeight: numberOption(values, 'content-weight'),
    styleWeight: numberOption(values, 'style-weight'),
    tvWeight: numberOption(values, 'tv-weight'),
    contentLayers: listOption(values, 'content-layers'),
    styleLayers: listOption(values, 'style-layers'),
    pooling: values.pooling as TransferParams['pooling'],
    init: values.init as TransferParams['init'],
    seed: numberOption(values, 'seed'),
    styleScale: numberOption(values, 'style-scale'),
    scales: numberOption(values, 'scales'),
    preserveColors: values['preserve-colors'] ?? false,
    previewEvery: numberOption(values, 'preview-every') ?? 0,
    ...(values['init-image'] ? { initImage: await readInput(values['init-image'], '--init-image') } : {}),
  };
  // Refuse bad parameters before paying for a worker and a backend.
  resolveTransferParams(params);
  const quiet = values.quiet ?? false;
  const bar = new ProgressBar();
  const engine = await Engine.start({
    backend: parseBackendChoice(values.backend ?? process.env.GRAMIAN_BACKEND),
    threads: numberOption(values, 'threads'),
    weightsDir: values.weights,
    log: (message) => quiet || bar.log(`engine: ${message}`),
  });
  try {
    for await (const event of engine.transfer(params)) {
      if (event.type === 'download' && !quiet) {
        bar.update(event.receivedBytes, event.totalBytes ?? 0, `${event.stage === 'download' ? 'downloading VGG19' : 'converting VGG19'} ${formatBytes(event.receivedBytes)}`);
      } else if (event.type === 'started' && !quiet) {
        bar.log(`stylizing ${event.width}×${event.height}, ${event.totalSteps} steps on ${event.backend}`);
      } else if (event.type === 'step' && !quiet) {
        const line = `step ${event.step}/${event.totalSteps} content ${event.contentLoss.toExponential(3)} style ${event.styleLoss.toExponential(3)} tv ${event.tvLoss.toExponential(3)} total ${event.totalLoss.toExponential(3)} (${event.ms.toFixed(0)} ms)`;
        if (event.step === 1 || event.step % 10 === 0 || event.step === event.totalSteps) bar.log(line);
        bar.update(event.step, event.totalSteps, `step ${event.step}/${event.totalSteps}`);
      } else if (event.type === 'preview' && values['preview-dir']) {
        await mkdir(values['preview-dir'], { recursive: true });
        await writeFile(path.join(values['preview-dir'], `step-${String(event.step).padStart(5, '0')}.jpg`), event.bytes);
      } else if (event.type === 'done') {
        bar.finish();
        await writeOutput(values.out, event.image);
        if (!quiet) console.error(`wrote ${values.out} (${event.width}×${event.height}) in ${(event.ms / 1000).toFixed(1)} s, final loss ${event.losses.total.toExponential(3)}`);
      }
    }
  } finally {
    await engine.close();
  }
}

async function weights(argv: string[]): Promise<void> {
  const { values } = parseArgs({ args: argv, strict: true, options: { from: { type: 'string' } } });
  const bar = new ProgressBar();
  if (values.from) {
    await convertKerasVgg19(values.from, vggCacheDir());
    console.error(`converted ${values.from} into ${vggCacheDir()}`);
    return;
  }
  const folder = await fetchVggWeights({
    onProgress: (p) => bar.update(p.receivedBytes, p.totalBytes ?? 0, `${p.stage} ${formatBytes(p.receivedBytes)}`),
  });
  bar.finish();
  console.error(`VGG19 weights are in ${folder}`);
}

async function info(): Promise<void> {
  const engine = await Engine.start({ backend: parseBackendChoice(process.env.GRAMIAN_BACKEND) });
  try {
    console.log(JSON.stringify(await engine.info(), null, 2));
  } finally {
    await engine.close();
  }
}

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    if (command === 'stylize') await stylize(rest);
    else if (command === 'weights') await weights(rest);
    else if (command === 'info') await info();
    else {
      console.error(USAGE);
      return command === undefined || command === '--help' || command === 'help' ? 0 : 2;
    }
    return 0;
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    console.error(`gramian: ${message}`);
    // 2 for a usage or input mistake, 1 for everything else.
    if (error instanceof EngineInputError || String((error as { code?: string }).code).startsWith('ERR_PARSE_ARGS')) return 2;
    return 1;
  }
}
