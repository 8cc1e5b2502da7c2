// deeplearn.js checkpoints, as ml5 and reiinakano publish the Engstrom style networks: a manifest.json that maps each
// variable name to {filename, shape}, and one raw little-endian float32 file per variable, C order.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { StyleModelError } from '../errors.js';

export const ML5_MANIFEST = 'manifest.json';

export interface CheckpointVariable {
  shape: number[];
  data: Float32Array;
}

interface ManifestEntry {
  filename: string;
  shape: number[];
}

/** The manifest's entries, each naming a file in the checkpoint's own folder (StyleModelError otherwise). */
export function parseManifest(text: string, file: string): Map<string, ManifestEntry> {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new StyleModelError(file, `is not JSON: ${(error as Error).message}`);
  }
  if (json === null || typeof json !== 'object' || Array.isArray(json))
    throw new StyleModelError(
      file,
      'is not a deeplearn.js checkpoint manifest (expected an object of {filename, shape} entries)',
    );
  const entries = new Map<string, ManifestEntry>();
  for (const [name, value] of Object.entries(json)) {
    const entry = value as Partial<ManifestEntry> | null;
    const shapeOk = Array.isArray(entry?.shape) && entry.shape.every((n) => Number.isInteger(n) && n >= 0);
    if (!entry || typeof entry.filename !== 'string' || !shapeOk)
      throw new StyleModelError(file, `entry "${name}" is not {filename, shape}`);
    // A manifest names files in its own folder; refuse anything that would read elsewhere.
    if (entry.filename === '' || path.basename(entry.filename) !== entry.filename)
      throw new StyleModelError(
        file,
        `entry "${name}" names the file "${entry.filename}", which is not in the checkpoint folder`,
      );
    entries.set(name, { filename: entry.filename, shape: entry.shape! });
  }
  return entries;
}

/**
 * Reads every variable listed in `<folder>/manifest.json`. Each file must hold exactly prod(shape) float32 values;
 * a missing or short file is a StyleModelError naming it.
 */
export async function loadMl5Checkpoint(folder: string): Promise<Map<string, CheckpointVariable>> {
  const manifestFile = path.join(folder, ML5_MANIFEST);
  let text: string;
  try {
    text = await readFile(manifestFile, 'utf8');
  } catch (error) {
    throw new StyleModelError(
      folder,
      `no readable ${ML5_MANIFEST} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}); ` +
        'an ml5 checkpoint is a folder with manifest.json and its Variable files',
    );
  }
  const entries = parseManifest(text, manifestFile);
  const variables = new Map<string, CheckpointVariable>();
  await Promise.all(
    [...entries].map(async ([name, entry]) => {
      const file = path.join(folder, entry.filename);
      let bytes: Buffer;
      try {
        bytes = await readFile(file);
      } catch (error) {
        throw new StyleModelError(
          file,
          `variable "${name}" is listed in ${ML5_MANIFEST} but its file cannot be read ` +
            `(${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`,
        );
      }
      const count = entry.shape.reduce((a, b) => a * b, 1);
      if (bytes.byteLength !== count * 4) {
        throw new StyleModelError(
          file,
          `variable "${name}" of shape [${entry.shape.join(', ')}] needs ${count * 4} bytes (float32), ` +
            `the file has ${bytes.byteLength}${bytes.byteLength < count * 4 ? ' (truncated)' : ''}`,
        );
      }
      // Copy into an aligned buffer of our own (a Buffer may start at any offset). The files are little-endian, as is
      // every host Node runs on here.
      const data = new Float32Array(count);
      new Uint8Array(data.buffer).set(bytes);
      variables.set(name, { shape: entry.shape, data });
    }),
  );
  return variables;
}
