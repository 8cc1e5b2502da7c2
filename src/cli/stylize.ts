// `gramian stylize`: a Gatys transfer (--style images) or a fast one (--model), with a progress bar and loss lines.
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import {
  Engine,
  EngineInputError,
  GATYS_DEFAULTS,
  parseBackendChoice,
  resolveFastParams,
  resolveTransferParams,
  type Job,
  type StylizeParams,
  type TransferParams,
} from '../engine/index.js';
import { resolveModel } from './models.js';
import { listOption, numberOption, readInput, writeOutput } from './options.js';
import { ProgressBar, formatBytes } from './progress.js';

export const STYLIZE_USAGE = `stylize options (defaults in brackets):
  --style <image>             a style image (repeat for several) — a Gatys transfer
  --model <name|path>         a trained style model (gramian models) — a fast transfer, one pass
  --style-weights <w1,w2,…>   blend weights, one per --style [equal]
  --size <px>                 longest side of the output [Gatys ${GATYS_DEFAULTS.size}; fast: the content's own]
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
  --tile-size <px>            refine in tiles of at most this side, overlap included, even where the backend holds
                              the whole image [Gatys and fast: tiles only past the backend's single pass]
  --tile-passes <n>           Gatys: passes over the tiles of a tiled scale [${GATYS_DEFAULTS.tilePasses}]
  --style-reference <image>   fast: the painting the model learnt, for the quality score's style part
  --no-quality                do not score the result (the score needs VGG19's weights)
  --strength <0..1>           fast: blend of the stylised image over the content [1]
  --preserve-colors           keep the content's colours (luminance-only transfer)
  --preview-every <n>         write previews every n steps into --preview-dir [off]
  --preview-dir <folder>
  --backend auto|tensorflow-gpu|tensorflow|wasm|cpu   [auto, or GRAMIAN_BACKEND]
  --threads <n>               wasm threads [all cores]
  --weights <folder>          VGG19 weights folder [GRAMIAN_WEIGHTS, then the cache]
  --quiet                     no progress bar or loss lines`;

const OPTIONS = {
  content: { type: 'string' },
  style: { type: 'string', multiple: true },
  model: { type: 'string' },
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
  'tile-size': { type: 'string' },
  'tile-passes': { type: 'string' },
  'style-reference': { type: 'string' },
  'no-quality': { type: 'boolean' },
  strength: { type: 'string' },
  'preserve-colors': { type: 'boolean' },
  'preview-every': { type: 'string' },
  'preview-dir': { type: 'string' },
  backend: { type: 'string' },
  threads: { type: 'string' },
  weights: { type: 'string' },
  quiet: { type: 'boolean' },
} as const;

type Values = ReturnType<typeof parseArgs<{ options: typeof OPTIONS; strict: true }>>['values'];

async function gatysParams(values: Values, content: Uint8Array): Promise<TransferParams> {
  const styles = values.style ?? [];
  const blend = listOption(values, 'style-weights')?.map(Number);
  if (blend && blend.length !== styles.length)
    throw new EngineInputError('--style-weights', `has ${blend.length} values for ${styles.length} --style images`);
  const params: TransferParams = {
    content,
    styles: await Promise.all(
      styles.map(async (file, i) => ({ image: await readInput(file, '--style'), weight: blend?.[i] ?? 1 })),
    ),
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
    tileSize: numberOption(values, 'tile-size'),
    tilePasses: numberOption(values, 'tile-passes'),
    preserveColors: values['preserve-colors'] ?? false,
    previewEvery: numberOption(values, 'preview-every') ?? 0,
    ...(values['init-image'] ? { initImage: await readInput(values['init-image'], '--init-image') } : {}),
  };
  resolveTransferParams(params);
  return params;
}

async function fastParams(
  values: Values,
  content: Uint8Array,
  bar: ProgressBar,
  quiet: boolean,
): Promise<StylizeParams> {
  const options = {
    content,
    ...(values.size !== undefined ? { size: numberOption(values, 'size') } : {}),
    ...(values.strength !== undefined ? { strength: numberOption(values, 'strength') } : {}),
    ...(values['tile-size'] !== undefined ? { tileSize: numberOption(values, 'tile-size') } : {}),
    preserveColors: values['preserve-colors'] ?? false,
  };
  resolveFastParams(options);
  const model = await resolveModel(
    values.model!,
    (p) =>
      quiet ||
      bar.update(p.receivedBytes, p.totalBytes ?? 0, `downloading ${values.model} ${formatBytes(p.receivedBytes)}`),
  );
  return { ...options, model };
}

export async function stylizeCommand(argv: string[]): Promise<void> {
  const { values } = parseArgs({ args: argv, strict: true, options: OPTIONS });
  if (!values.content) throw new EngineInputError('--content', 'is required');
  if (!values.out) throw new EngineInputError('--out', 'is required');
  if (Boolean(values.model) === Boolean(values.style?.length)) {
    throw new EngineInputError(
      '--style',
      'give --style images (a Gatys transfer) or one --model (a fast transfer)',
      'one of the two',
    );
  }
  if (values['preview-every'] && !values['preview-dir'])
    throw new EngineInputError('--preview-dir', 'is required with --preview-every');
  const quiet = values.quiet ?? false;
  const bar = new ProgressBar();
  const content = await readInput(values.content, '--content');
  // Bad parameters are refused before paying for a worker and a backend.
  const quality = !(values['no-quality'] ?? false);
  const job: Job = values.model
    ? {
        kind: 'FAST',
        params: await fastParams(values, content, bar, quiet),
        quality,
        ...(values['style-reference']
          ? { styleReference: await readInput(values['style-reference'], '--style-reference') }
          : {}),
      }
    : { kind: 'GATYS', params: await gatysParams(values, content), quality };
  const engine = await Engine.start({
    backend: parseBackendChoice(values.backend ?? process.env.GRAMIAN_BACKEND),
    threads: numberOption(values, 'threads'),
    weightsDir: values.weights,
    log: (message) => quiet || bar.log(`engine: ${message}`),
  });
  try {
    for await (const event of engine.run(job)) {
      if (event.type === 'download' && !quiet) {
        bar.update(
          event.receivedBytes,
          event.totalBytes ?? 0,
          `${event.stage === 'download' ? 'downloading VGG19' : 'converting VGG19'} ` +
            formatBytes(event.receivedBytes),
        );
      } else if (event.type === 'started' && !quiet) {
        bar.log(
          `stylizing ${event.width}×${event.height}, ` +
            `${job.kind === 'FAST' ? `one pass of ${values.model}` : `${event.totalSteps} steps`} on ${event.backend}`,
        );
      } else if (event.type === 'step' && !quiet && job.kind === 'GATYS') {
        const where = event.tile
          ? ` (scale ${event.scale}, tile ${event.tile}/${event.tiles}${event.pass! > 1 ? `, pass ${event.pass}` : ''})`
          : '';
        const line =
          `step ${event.step}/${event.totalSteps}${where} content ${event.contentLoss.toExponential(3)} ` +
          `style ${event.styleLoss.toExponential(3)} tv ${event.tvLoss.toExponential(3)} ` +
          `total ${event.totalLoss.toExponential(3)} (${event.ms.toFixed(0)} ms)`;
        if (event.step === 1 || event.step % 10 === 0 || event.step === event.totalSteps) bar.log(line);
        bar.update(event.step, event.totalSteps, `step ${event.step}/${event.totalSteps}`);
      } else if (event.type === 'preview' && values['preview-dir']) {
        await mkdir(values['preview-dir'], { recursive: true });
        await writeFile(
          path.join(values['preview-dir'], `step-${String(event.step).padStart(5, '0')}.jpg`),
          event.image.bytes,
        );
      } else if (event.type === 'done') {
        bar.finish();
        await writeOutput(values.out, event.image.bytes);
        if (!quiet) {
          const loss = job.kind === 'GATYS' ? `, final loss ${event.losses.total.toExponential(3)}` : '';
          const score = event.quality
            ? `; quality: style ${event.quality.style?.toFixed(4) ?? '– (no style reference)'}, ` +
              `content ${event.quality.content.toFixed(4)} (lower is closer)`
            : '';
          console.error(
            `wrote ${values.out} (${event.image.width}×${event.image.height}) ` +
              `in ${(event.ms / 1000).toFixed(1)} s${loss}${score}`,
          );
        }
      }
    }
  } finally {
    await engine.close();
  }
}
