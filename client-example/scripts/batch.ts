// Batch style transfer against a Gramian server: sync presets from a file, then stylise many content images with
// one preset, one run each, with a live progress line per run (runEvents over graphql-ws), and download the results.
//
//   node --import tsx client-example/scripts/batch.ts --presets presets.json --preset "Sketch" \
//     --style ../shared/images/style/the_scream.jpg --out out photos/*.jpg
//
// `--help` lists every option; presets.ts documents the presets file.
import { mkdir, readFile, readdir, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { readFragment, type FragmentOf, type ResultOf, type VariablesOf } from '../graphql.ts';
import {
  CancelRun,
  Catalog,
  ImageFields,
  RunDetails,
  RunEvents,
  RunSummary,
  StartTransfer,
  UploadStyle,
} from '../operations.ts';
import { HELP, UsageError, parseOptions, type BatchOptions } from './cli.ts';
import { GramianClient, GraphQLRequestError, HttpError, describeError, errorCode, errorDetail } from './client.ts';
import { PresetFileError, readPresetFile, syncPresets } from './presets.ts';
import { ProgressBoard } from './progress.ts';

type CatalogData = ResultOf<typeof Catalog>;
type TransferInput = VariablesOf<typeof StartTransfer>['input'];
type Summary = ResultOf<typeof RunSummary>;

const IMAGE_FILE = /\.(jpe?g|png|webp|gif|tiff?|avif)$/i;
const EXTENSIONS: Record<string, string> = { 'image/png': 'png', 'image/jpeg': 'jpg', 'image/webp': 'webp' };

/** How one content image's run ended. */
interface Outcome {
  content: string;
  status: 'SUCCEEDED' | 'FAILED' | 'CANCELED';
  /** The run's error code (or the refusal's: INVALID_INPUT, NOT_AN_IMAGE, …) and message. */
  code?: string;
  message?: string;
  file?: string;
}

async function isFile(file: string): Promise<boolean> {
  return stat(file).then(
    (s) => s.isFile(),
    () => false,
  );
}

/** The content images: the files given, then the images of --content-dir in name order. */
async function contentFiles(options: BatchOptions): Promise<string[]> {
  const files: string[] = [];
  for (const file of options.contents) {
    if (!(await isFile(file))) throw new UsageError(`content image not found: ${file}`);
    files.push(file);
  }
  if (options.contentDir !== undefined) {
    const names = await readdir(options.contentDir).catch((error: Error) => {
      throw new UsageError(`--content-dir: ${error.message}`);
    });
    const images = names.filter((n) => IMAGE_FILE.test(n)).sort();
    if (!images.length) throw new UsageError(`--content-dir: no images in ${options.contentDir}`);
    files.push(...images.map((n) => path.join(options.contentDir!, n)));
  }
  return files;
}

function slug(text: string): string {
  return (
    text
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, '-')
      .replace(/^-|-$/g, '') || 'result'
  );
}

/**
 * Style ids for --style: a file is stored and uploaded as a style (or matched to a style with the same image), a name
 * is looked up.
 */
async function resolveStyles(
  client: GramianClient,
  specs: readonly string[],
  catalog: CatalogData,
  log: (line: string) => void,
): Promise<string[]> {
  const ids: string[] = [];
  for (const spec of specs) {
    if (!(await isFile(spec))) {
      const style = catalog.styles.find((s) => s.name === spec);
      if (!style)
        throw new UsageError(
          `--style ${spec}: not a file, nor a style on the server ` +
            `(styles: ${catalog.styles.map((s) => s.name).join(', ') || 'none'})`,
        );
      ids.push(style.id);
      continue;
    }
    const stored = await client.uploadImage(await readFile(spec)).catch((error: unknown) => {
      throw error instanceof HttpError ? new UsageError(`--style ${spec}: ${error.message}`) : error;
    });
    const same = catalog.styles.find((s) => readFragment(ImageFields, s.image).url === stored.url);
    if (same) {
      log(`style "${same.name}": already on the server with this image`);
      ids.push(same.id);
      continue;
    }
    const base = path.basename(spec, path.extname(spec));
    const name = catalog.styles.some((s) => s.name === base) ? `${base}-${stored.sha256.slice(0, 8)}` : base;
    const { uploadStyle } = await client.request(UploadStyle, { input: { name, imageId: stored.id } });
    if (uploadStyle.__typename !== 'Style') throw new UsageError(`--style ${spec}: ${describeError(uploadStyle)}`);
    log(`style "${uploadStyle.name}": uploaded`);
    ids.push(uploadStyle.id);
  }
  return ids;
}

/** What every run of the batch is started with, but its content image; and the suffix of the result files. */
async function transferTemplate(
  client: GramianClient,
  options: BatchOptions,
  catalog: CatalogData,
  presetName: string | undefined,
  log: (line: string) => void,
) {
  const preset = presetName === undefined ? undefined : catalog.presets.find((p) => p.name === presetName);
  if (presetName !== undefined && !preset)
    throw new UsageError(
      `--preset "${presetName}": no such preset (presets: ${catalog.presets.map((p) => p.name).join(', ')})`,
    );
  const engine = preset?.engine ?? (options.model !== undefined ? 'FAST' : 'GATYS');
  const input: Omit<TransferInput, 'contentImageId'> = { presetId: preset?.id };
  if (engine === 'FAST') {
    if (options.styles.length)
      throw new UsageError(`--style: preset "${presetName}" is FAST, it takes a style model (--model)`);
    if (options.model !== undefined) {
      const model = catalog.styleModels.find((m) => m.name === options.model);
      if (!model)
        throw new UsageError(
          `--model ${options.model}: no such style model ` +
            `(models: ${catalog.styleModels.map((m) => m.name).join(', ')})`,
        );
      input.styleModelId = model.id;
    } else if (!preset?.fastParams?.styleModel) {
      throw new UsageError(`preset "${presetName}" names no style model: give --model`);
    }
    // Overrides from the command line go to the server as given: it checks them and answers typed errors.
    if (Object.keys(options.overrides).length) input.fastParams = options.overrides;
  } else {
    if (options.model !== undefined)
      throw new UsageError(`--model: preset "${presetName}" is GATYS, it takes style images (--style)`);
    if (!options.styles.length) throw new UsageError('a GATYS transfer needs at least one --style');
    const ids = await resolveStyles(client, options.styles, catalog, log);
    input.styles = ids.map((styleId, i) => ({ styleId, weight: options.styleWeights?.[i] ?? 1 }));
    if (Object.keys(options.overrides).length) input.params = options.overrides;
  }
  const suffix = slug(presetName ?? options.model ?? 'gatys');
  return { input, suffix, engine };
}

/** Follows one run to its end on the progress board; the run's final summary (null if it could not be known). */
async function follow(
  client: GramianClient,
  runId: string,
  board: ProgressBoard,
  index: number,
): Promise<Summary | { lost: string }> {
  // A FAST run is one pass: its single "step" has no loss worth showing.
  let losses = true;
  try {
    for await (const { runEvents: event } of client.subscribe(RunEvents, { runId })) {
      switch (event.__typename) {
        case 'RunSnapshot': {
          const run = readFragment(RunSummary, event.run);
          losses = run.engine === 'GATYS';
          board.update(index, {
            status: event.status,
            queuePosition: event.queuePosition,
            step: event.lastStep?.step ?? 0,
            totalSteps: run.totalSteps,
            totalLoss: losses ? (run.losses?.total ?? null) : null,
          });
          break;
        }
        case 'RunStatusChanged':
          board.update(index, { status: event.status, queuePosition: event.queuePosition, note: '' });
          break;
        case 'RunStepAdded':
          board.update(index, {
            step: event.step.step,
            totalSteps: event.totalSteps,
            totalLoss: losses ? event.step.totalLoss : null,
            note: '',
          });
          break;
        case 'RunDownloadProgress': {
          const share = event.totalBytes ? ` ${Math.floor((100 * event.receivedBytes) / event.totalBytes)}%` : '';
          board.update(index, { note: `fetching weights${share}` });
          break;
        }
        case 'RunEnded': {
          const run = readFragment(RunSummary, event.run);
          board.update(index, { status: event.status, step: run.lastStep, note: run.error?.code ?? '' });
          return run;
        }
        case 'RunPreviewAdded':
          break;
      }
    }
  } catch {
    // The subscription broke off (retries exhausted): the run's state is still on the server.
  }
  try {
    const { run } = await client.request(RunDetails, { id: runId });
    return run ? readFragment(RunSummary, run) : { lost: 'the run is gone from the server' };
  } catch (error) {
    return { lost: `the run could not be followed: ${errorCode(error).message}` };
  }
}

async function runBatch(client: GramianClient, options: BatchOptions): Promise<number> {
  const out = (line: string) => process.stdout.write(`${line}\n`);
  const entries = options.presetsFile !== undefined ? await readPresetFile(options.presetsFile) : [];
  const contents = await contentFiles(options);
  if (!entries.length && !contents.length) throw new UsageError('nothing to do: give --presets and/or content images');

  let catalog = await client.request(Catalog, {});
  for (const preset of await syncPresets(client, entries, catalog.presets))
    out(`preset "${preset.name}" (${preset.engine}): ${preset.action}`);
  if (!contents.length) return 0;
  if (entries.length) catalog = await client.request(Catalog, {});

  const presetName = options.preset ?? (entries.length === 1 ? entries[0]!.name.trim() : undefined);
  if (presetName === undefined && entries.length > 1)
    throw new UsageError(`--preset: choose one of the file's presets (${entries.map((e) => e.name).join(', ')})`);
  const { input, suffix, engine } = await transferTemplate(client, options, catalog, presetName, out);
  await mkdir(options.out, { recursive: true });
  out(
    `${contents.length} ${engine} run(s) with ${presetName ? `preset "${presetName}"` : 'no preset'} ` +
      `on ${catalog.engine.backend}, results in ${options.out}`,
  );

  // Ctrl-C: start no more runs and cancel the ones started (each then ends CANCELED and is reported); a second
  // Ctrl-C quits at once.
  const runIds: (string | null)[] = [];
  let interrupted = false;
  const cancelAll = () => {
    for (const id of runIds) if (id) void client.request(CancelRun, { id }).catch(() => {});
  };
  const onSigint = () => {
    if (interrupted) process.exit(130);
    interrupted = true;
    cancelAll();
  };
  process.on('SIGINT', onSigint);

  // Start every run first (queue order = argument order), then follow them all at once.
  // Each run is shown by its file name, or by the path given when two share a name.
  const labels = contents.map((file, _, all) =>
    all.filter((f) => path.basename(f) === path.basename(file)).length > 1 ? file : path.basename(file),
  );
  const outcomes: Outcome[] = labels.map((content) => ({ content, status: 'FAILED' }));
  for (const [i, file] of contents.entries()) {
    if (interrupted) {
      Object.assign(outcomes[i]!, { status: 'CANCELED', message: 'not started (interrupted)' });
      runIds.push(null);
      continue;
    }
    try {
      const image = await client.uploadImage(await readFile(file));
      const { startTransfer } = await client.request(StartTransfer, { input: { ...input, contentImageId: image.id } });
      if (startTransfer.__typename !== 'Run') {
        Object.assign(outcomes[i]!, { code: startTransfer.code, message: errorDetail(startTransfer) });
        runIds.push(null);
      } else {
        // Through FragmentOf: readFragment cannot unmask a value that also carries the union's __typename.
        const run: FragmentOf<typeof RunSummary> = startTransfer;
        runIds.push(readFragment(RunSummary, run).id);
      }
    } catch (error) {
      if (!(error instanceof HttpError || error instanceof GraphQLRequestError)) throw error;
      Object.assign(outcomes[i]!, errorCode(error));
      runIds.push(null);
    }
  }
  if (interrupted) cancelAll(); // a run being started when Ctrl-C came

  // Result files: <content>-<preset>, numbered when two contents share a name.
  const names: string[] = [];
  for (const file of contents) {
    const stem = `${path.basename(file, path.extname(file))}-${suffix}`;
    let name = stem;
    for (let n = 2; names.includes(name); n++) name = `${stem}-${n}`;
    names.push(name);
  }

  const board = new ProgressBoard(labels);
  runIds.forEach((id, i) => {
    if (!id) board.update(i, { status: outcomes[i]!.status, note: outcomes[i]!.code ?? '' });
  });
  await Promise.all(
    runIds.map(async (id, i) => {
      if (!id) return;
      const outcome = outcomes[i]!;
      const run = await follow(client, id, board, i);
      if ('lost' in run) {
        Object.assign(outcome, { code: 'LOST', message: run.lost });
        return;
      }
      if (run.status === 'FAILED' || run.status === 'CANCELED') {
        Object.assign(outcome, { status: run.status }, run.error);
        return;
      }
      const result = readFragment(ImageFields, run.result);
      if (run.status !== 'SUCCEEDED' || !result) {
        Object.assign(outcome, { code: 'NO_RESULT', message: `the run is ${run.status}, with no result` });
        return;
      }
      const file = path.join(options.out, `${names[i]}.${EXTENSIONS[result.mime] ?? 'img'}`);
      try {
        await writeFile(file, await client.download(result.url));
        Object.assign(outcome, { status: 'SUCCEEDED', file });
      } catch (error) {
        Object.assign(outcome, errorCode(error));
      }
    }),
  );
  board.finish();
  process.off('SIGINT', onSigint);

  for (const o of outcomes) {
    if (o.status === 'SUCCEEDED') out(`✓ ${o.content} → ${o.file}`);
    else
      process.stderr.write(
        `✗ ${o.content}: ${o.status}${o.code ? ` ${o.code}` : ''}${o.message ? `: ${o.message}` : ''}\n`,
      );
  }
  const count = (status: Outcome['status']) => outcomes.filter((o) => o.status === status).length;
  out(`${count('SUCCEEDED')} succeeded, ${count('FAILED')} failed, ${count('CANCELED')} canceled`);
  return count('SUCCEEDED') === outcomes.length ? 0 : 1;
}

export async function main(argv: readonly string[]): Promise<number> {
  let options: BatchOptions;
  try {
    options = parseOptions(argv);
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\nRun with --help for the options.\n`);
    return 2;
  }
  if (options.help) {
    process.stdout.write(`${HELP}\n`);
    return 0;
  }
  const client = new GramianClient(options.server, options.key);
  try {
    return await runBatch(client, options);
  } catch (error) {
    if (error instanceof UsageError || error instanceof PresetFileError) {
      process.stderr.write(`${error.message}\n`);
      return 2;
    }
    if (error instanceof TypeError && error.message === 'fetch failed') {
      const { code, message } = errorCode(error);
      process.stderr.write(
        `cannot reach the server at ${options.server}: ${code} ${message} (is it running? --server sets its address)\n`,
      );
    } else {
      process.stderr.write(
        `${error instanceof GraphQLRequestError ? error.message : ((error as Error).stack ?? String(error))}\n`,
      );
    }
    return 1;
  } finally {
    await client.close();
  }
}

process.exitCode = await main(process.argv.slice(2));
