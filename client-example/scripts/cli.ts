// Command-line options of the batch script (node:util parseArgs), checked before anything is sent.
import { parseArgs } from 'node:util';

export const HELP = `Usage: node --import tsx client-example/scripts/batch.ts [options] [content images…]

Creates or updates presets from a file, then stylises every content image with one preset, following each run
live and downloading the results.

Options:
  --server <url>           Gramian server (default $GRAMIAN_SERVER or http://localhost:4000)
  --key <gmn_…>            API key for a server that requires credentials (default $GRAMIAN_API_KEY)
  --presets <file.json>    create or update these presets first (see presets.example.json)
  --preset <name>          preset for the batch (default: the only preset of --presets, if it has one)
  --style <file|name>      style image to upload, or a style already on the server by name (repeatable; GATYS)
  --style-weights <w,…>    blend weights, one per --style (default 1 each)
  --model <name>           style model by name (FAST), instead of the preset's
  --set <key=value>        override one parameter of the preset (repeatable), e.g. --set steps=50
                           --set optimizer=ADAM; values are JSON (numbers, true/false, lists) or text
  --content-dir <folder>   every image (jpg, png, webp, gif, tiff, avif) of this folder, as well as the ones given
  --out <folder>           where results go, named <content>-<preset>.<ext> (default ./out)
  -h, --help               this help

Exit code: 0 when every run succeeded; 1 when a run failed or was canceled (each is listed with its error code) or
the server could not be reached; 2 for a mistake in the options or the presets file (nothing was started).
Ctrl-C cancels the runs started (a second Ctrl-C quits at once).`;

export interface BatchOptions {
  server: string;
  /** API key sent on every request, when the server needs one. */
  key?: string;
  presetsFile?: string;
  preset?: string;
  styles: string[];
  styleWeights?: number[];
  model?: string;
  /** --set key=value pairs, for params (GATYS) or fastParams (FAST). */
  overrides: Record<string, unknown>;
  contents: string[];
  contentDir?: string;
  out: string;
  help: boolean;
}

/** A mistake on the command line; the batch exits 2. */
export class UsageError extends Error {}

function parseValue(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text; // enum values (ADAM, NOISE) and model names need no quotes
  }
}

export function parseOptions(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): BatchOptions {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      allowPositionals: true,
      strict: true,
      options: {
        server: { type: 'string' },
        key: { type: 'string' },
        presets: { type: 'string' },
        preset: { type: 'string' },
        style: { type: 'string', multiple: true },
        'style-weights': { type: 'string' },
        model: { type: 'string' },
        set: { type: 'string', multiple: true },
        'content-dir': { type: 'string' },
        out: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const { values, positionals } = parsed;
  const styles = values.style ?? [];
  let styleWeights: number[] | undefined;
  if (values['style-weights'] !== undefined) {
    styleWeights = values['style-weights'].split(',').map(Number);
    if (styleWeights.some((w) => !Number.isFinite(w)))
      throw new UsageError(`--style-weights: expected numbers separated by commas, got "${values['style-weights']}"`);
    if (styleWeights.length !== styles.length)
      throw new UsageError(`--style-weights has ${styleWeights.length} weights for ${styles.length} --style`);
  }
  const overrides: Record<string, unknown> = {};
  for (const pair of values.set ?? []) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new UsageError(`--set: expected key=value, got "${pair}"`);
    overrides[pair.slice(0, eq).trim()] = parseValue(pair.slice(eq + 1).trim());
  }
  if (styles.length && values.model !== undefined)
    throw new UsageError('--style (GATYS) and --model (FAST) do not go together');
  return {
    server: values.server ?? env.GRAMIAN_SERVER ?? 'http://localhost:4000',
    ...((values.key ?? env.GRAMIAN_API_KEY) ? { key: values.key ?? env.GRAMIAN_API_KEY } : {}),
    presetsFile: values.presets,
    preset: values.preset,
    styles,
    styleWeights,
    model: values.model,
    overrides,
    contents: positionals,
    contentDir: values['content-dir'],
    out: values.out ?? 'out',
    help: values.help ?? false,
  };
}
