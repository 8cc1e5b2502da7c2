// What a model source names, checked and detected without loading any weights (the main thread uses this).
import { existsSync, statSync } from 'node:fs';
import { cp } from 'node:fs/promises';
import path from 'node:path';
import { StyleModelError } from '../errors.js';
import { ML5_MANIFEST } from './ml5-checkpoint.js';
import {
  ARCHITECTURES,
  FORMAT_ARCHITECTURE,
  MODEL_FORMATS,
  type Architecture,
  type ModelFormat,
  type StyleModelSource,
} from './types.js';

const PAIRS = MODEL_FORMATS.map((f) => `${FORMAT_ARCHITECTURE[f]} + ${f}`).join(', ');

/**
 * Checks a source's shape without touching the disk: known architecture and format, a pair that goes together, a
 * path. Throws StyleModelError listing what is valid.
 */
export function checkModelSource(source: unknown): StyleModelSource {
  if (source === null || typeof source !== 'object')
    throw new StyleModelError(undefined, 'model must be {architecture, format, path}', PAIRS);
  const { architecture, format, path: file } = source as Partial<Record<keyof StyleModelSource, unknown>>;
  if (!ARCHITECTURES.includes(architecture as Architecture))
    throw new StyleModelError(
      undefined,
      `unknown architecture "${String(architecture)}"`,
      `architectures ${ARCHITECTURES.join(', ')}`,
    );
  if (!MODEL_FORMATS.includes(format as ModelFormat))
    throw new StyleModelError(
      undefined,
      `unknown model format "${String(format)}"`,
      `formats ${MODEL_FORMATS.join(', ')}`,
    );
  if (FORMAT_ARCHITECTURE[format as ModelFormat] !== architecture) {
    throw new StyleModelError(
      undefined,
      `the ${String(architecture)} architecture does not come in the ${String(format)} format`,
      PAIRS,
    );
  }
  if (typeof file !== 'string' || file === '')
    throw new StyleModelError(
      undefined,
      'model path is empty',
      'a checkpoint folder (ml5-checkpoint) or a .param file (ncnn)',
    );
  if (format === 'ncnn' && !file.endsWith('.param'))
    throw new StyleModelError(
      file,
      'an ncnn model is named by its .param file',
      'a path ending in .param, with the .bin beside it',
    );
  return { architecture: architecture as Architecture, format: format as ModelFormat, path: file };
}

/**
 * What a path holds, from its name and contents: a folder with manifest.json is an ml5 checkpoint (Engstrom net),
 * a .param file (with its .bin) an ncnn PyTorch TransformerNet.
 */
export function detectModelFormat(file: string): StyleModelSource {
  let stat;
  try {
    stat = statSync(file);
  } catch (error) {
    throw new StyleModelError(
      file,
      `cannot be read (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`,
      'a checkpoint folder with manifest.json, or an ncnn .param file',
    );
  }
  if (stat.isDirectory()) {
    if (existsSync(path.join(file, ML5_MANIFEST)))
      return { architecture: 'engstrom', format: 'ml5-checkpoint', path: file };
    throw new StyleModelError(
      file,
      `is a folder without ${ML5_MANIFEST}`,
      'a checkpoint folder with manifest.json, or an ncnn .param file',
    );
  }
  if (file.endsWith('.param')) return { architecture: 'pytorch', format: 'ncnn', path: file };
  if (path.basename(file) === ML5_MANIFEST)
    return { architecture: 'engstrom', format: 'ml5-checkpoint', path: path.dirname(file) };
  if (file.endsWith('.bin') && existsSync(file.replace(/\.bin$/, '.param')))
    return { architecture: 'pytorch', format: 'ncnn', path: file.replace(/\.bin$/, '.param') };
  throw new StyleModelError(
    file,
    'is not a model this engine reads',
    'a checkpoint folder with manifest.json, or an ncnn .param file',
  );
}

/**
 * Copies a model's files into `folder` (an ncnn .param with its .bin, or a checkpoint folder as `checkpoint`) and
 * returns the copy's name inside it, which stands for the model as `path` does in a source.
 */
export async function copyModelFiles(source: StyleModelSource, folder: string): Promise<string> {
  if (source.format === 'ncnn') {
    const stem = source.path.replace(/\.param$/, '');
    await cp(`${stem}.param`, path.join(folder, path.basename(`${stem}.param`)));
    await cp(`${stem}.bin`, path.join(folder, path.basename(`${stem}.bin`)));
    return path.basename(`${stem}.param`);
  }
  // The bytes, not links: a link in the source would be followed later, wherever it points by then.
  await cp(source.path, path.join(folder, 'checkpoint'), { recursive: true, dereference: true });
  return 'checkpoint';
}
