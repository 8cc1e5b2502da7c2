// Where importStyleModel may read: only under the import folder (GRAMIAN_IMPORT_DIR), by a path relative to it. No
// `..`, no absolute path and no link leads out, and every refusal outside reads the same, so the server's answers
// cannot be used to probe which files exist elsewhere on its disk.
import { lstat, readdir, realpath } from 'node:fs/promises';
import path from 'node:path';
import { InputError } from '../errors.js';

const VALID = 'a model file or folder given by its path relative to the import folder (GRAMIAN_IMPORT_DIR)';

/** The one answer for a path that is not a readable file or folder inside the import folder. */
function notInImportFolder(): InputError {
  return new InputError('path', 'names nothing that can be imported', VALID);
}

function inside(root: string, file: string): boolean {
  const relative = path.relative(root, file);
  return relative !== '' && !relative.startsWith('..') && !path.isAbsolute(relative);
}

/** The real path of `file`, if it exists and is inside `root` once every link is followed. */
async function realInside(root: string, file: string): Promise<string | undefined> {
  try {
    const real = await realpath(file);
    return inside(root, real) ? real : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The real path of what `requested` names inside the import folder; InputError (always the same one) when it is
 * absolute, escapes, is missing, or leads out through a link. For a folder, every file below it must stay inside too:
 * its copy reads them all.
 */
export async function resolveImportPath(importDir: string, requested: string): Promise<string> {
  if (requested === '' || path.isAbsolute(requested) || requested.includes('\0')) throw notInImportFolder();
  let root: string;
  try {
    root = await realpath(importDir);
  } catch {
    throw notInImportFolder();
  }
  const joined = path.resolve(root, requested);
  if (!inside(root, joined)) throw notInImportFolder();
  const real = await realInside(root, joined);
  if (!real) throw notInImportFolder();
  if ((await lstat(real)).isDirectory()) {
    for (const entry of await readdir(real, { recursive: true })) {
      if (!(await realInside(root, path.join(real, entry)))) throw notInImportFolder();
    }
  }
  return real;
}

/** The files next to a model file that its loader also reads (an ncnn .param's .bin), checked the same way. */
export async function assertSiblingInside(importDir: string, file: string): Promise<void> {
  const root = await realpath(importDir);
  if (!(await realInside(root, file))) throw notInImportFolder();
}
