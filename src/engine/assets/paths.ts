// Where VGG19 weights are looked for and cached: paths only, so the main thread can name them without tensors.
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export const MANIFEST_NAMES = ['tfjs_weights_manifest.json', 'weights_manifest.json'] as const;
export const WEIGHTS_COMMAND = 'npx gramian weights';

/** The per-user cache folder (XDG_CACHE_HOME/gramian or ~/.cache/gramian). */
export function cacheRoot(env: NodeJS.ProcessEnv = process.env): string {
  if (env.GRAMIAN_CACHE) return path.resolve(env.GRAMIAN_CACHE);
  const base = env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache');
  return path.join(base, 'gramian');
}

/** The folder `gramian weights` converts VGG19 into. */
export function vggCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  return path.join(cacheRoot(env), 'vgg19');
}

export function findManifest(folder: string): string | undefined {
  for (const name of MANIFEST_NAMES) {
    const file = path.join(folder, name);
    if (existsSync(file)) return file;
  }
  return undefined;
}

/** Folders searched for VGG19, in order: GRAMIAN_WEIGHTS (or the explicit folder), then the cache. */
export function vggSearchPath(explicit: string | undefined, env: NodeJS.ProcessEnv = process.env): string[] {
  const first = explicit ?? env.GRAMIAN_WEIGHTS;
  return [...(first ? [path.resolve(first)] : []), vggCacheDir(env)];
}

/** The first folder on the search path that holds a manifest, or undefined. */
export function locateVggWeights(explicit?: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  return vggSearchPath(explicit, env).find((folder) => findManifest(folder) !== undefined);
}
