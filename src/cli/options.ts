// Small helpers the commands share: typed option parsing, input files, output files.
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import { EngineInputError } from '../engine/index.js';

/** Option values as node:util's parseArgs gives them. */
type OptionValues = Record<string, string | boolean | (string | boolean)[] | undefined>;

export function numberOption(values: OptionValues, name: string): number | undefined {
  const raw = values[name];
  if (raw === undefined) return undefined;
  const value = Number(raw);
  if (raw === '' || Number.isNaN(value)) throw new EngineInputError(`--${name}`, `"${String(raw)}" is not a number`);
  return value;
}

export function listOption(values: OptionValues, name: string): string[] | undefined {
  const raw = values[name];
  return typeof raw === 'string'
    ? raw
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean)
    : undefined;
}

export async function readInput(file: string, field: string): Promise<Uint8Array> {
  try {
    return await readFile(file);
  } catch (error) {
    throw new EngineInputError(
      field,
      `cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
    );
  }
}

/** Writes a PNG result in the format the file name asks for (.png, .jpg/.jpeg, .webp). */
export async function writeOutput(file: string, png: Uint8Array): Promise<void> {
  const ext = path.extname(file).toLowerCase();
  const image = sharp(png);
  const bytes =
    ext === '.jpg' || ext === '.jpeg'
      ? await image.jpeg({ quality: 92 }).toBuffer()
      : ext === '.webp'
        ? await image.webp({ quality: 92 }).toBuffer()
        : png;
  await mkdir(path.dirname(path.resolve(file)), { recursive: true });
  await writeFile(file, bytes);
}
