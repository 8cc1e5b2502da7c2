// Gets VGG19 onto disk: finds a weights folder on the search path, or downloads the Keras weights file (checked
// against its published md5) and converts it into the cache.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { DownloadError, TransferAbortedError, WeightsInvalidError, WeightsMissingError } from '../errors.js';
import { downloadFile, type DownloadProgress } from './download.js';
import { KERAS_VGG19, convertKerasVgg19, md5OfFile } from './keras-vgg19.js';
import { cacheRoot, locateVggWeights, MANIFEST_NAMES, vggCacheDir, WEIGHTS_COMMAND } from './paths.js';

export interface FetchVggWeightsOptions {
  /** Defaults to GRAMIAN_VGG19_URL, then KERAS_VGG19.url. */
  url?: string;
  md5?: string;
  /** Where the converted weights go; defaults to vggCacheDir(). */
  cacheDir?: string;
  /** Where the .h5 is downloaded to, or dropped by hand when offline; defaults to <cacheRoot>/downloads. */
  downloadsDir?: string;
  onProgress?: (progress: DownloadProgress) => void;
  signal?: AbortSignal;
}

export interface EnsureVggWeightsOptions {
  /** A weights folder named by the caller (e.g. a CLI flag); GRAMIAN_WEIGHTS is used when absent. */
  explicitDir?: string;
  /** Download and convert when no weights are found (default true). */
  allowDownload?: boolean;
  onProgress?: (progress: DownloadProgress) => void;
  signal?: AbortSignal;
}

function abortedError(): TransferAbortedError {
  return new TransferAbortedError('VGG19 weights download aborted');
}

/** Downloads the .h5 into place (only a complete file with the right md5 gets its name), with advice on failure. */
async function download(url: string, md5: string, h5File: string, cacheDir: string, options: FetchVggWeightsOptions) {
  try {
    await downloadFile(url, h5File, {
      algorithm: 'md5',
      expectedDigest: md5,
      ...(options.signal ? { signal: options.signal } : {}),
      onBytes: (receivedBytes, totalBytes) => options.onProgress?.({ stage: 'download', receivedBytes, totalBytes }),
    });
  } catch (error) {
    if (error instanceof TransferAbortedError) throw abortedError();
    if (!(error instanceof DownloadError)) throw error;
    if (error.failure === 'digest') throw new WeightsInvalidError(error.message);
    throw new WeightsMissingError(
      cacheDir,
      WEIGHTS_COMMAND,
      `could not download the VGG19 weights from ${url} (${error.detail}). If this machine has no network, get ` +
        `${path.basename(h5File)} (md5 ${md5}) from that URL elsewhere and save it in ${path.dirname(h5File)}: ` +
        `it is then converted into ${cacheDir} instead of downloaded`,
    );
  }
}

/**
 * Gets the Keras VGG19 .h5 (from downloadsDir when it is already there with the right md5, otherwise by download)
 * and converts it into cacheDir. Returns cacheDir.
 */
export async function fetchVggWeights(options: FetchVggWeightsOptions = {}): Promise<string> {
  const url = options.url ?? process.env.GRAMIAN_VGG19_URL ?? KERAS_VGG19.url;
  const md5 = options.md5 ?? KERAS_VGG19.md5;
  const cacheDir = path.resolve(options.cacheDir ?? vggCacheDir());
  const h5File = path.join(path.resolve(options.downloadsDir ?? path.join(cacheRoot(), 'downloads')), KERAS_VGG19.file);
  if (options.signal?.aborted) throw abortedError();
  if (existsSync(h5File)) {
    const actual = await md5OfFile(h5File);
    // Only a finished, verified download is ever renamed to h5File, so a mismatch is a file put there by hand.
    if (actual !== md5) {
      throw new WeightsInvalidError(
        `${h5File} has md5 ${actual}, expected ${md5}: ` +
          'it is not the Keras VGG19 notop weights file; delete or replace it',
      );
    }
  } else {
    await download(url, md5, h5File, cacheDir, options);
  }
  if (options.signal?.aborted) throw abortedError();
  await convertKerasVgg19(h5File, cacheDir, { sourceUrl: url, onProgress: options.onProgress });
  return cacheDir;
}

/**
 * The VGG19 weights folder to use: the first one found on the search path (explicitDir or GRAMIAN_WEIGHTS, then
 * the cache), else freshly fetched into the cache. A named folder without weights is an error, not a reason to
 * download elsewhere.
 */
export async function ensureVggWeights(options: EnsureVggWeightsOptions = {}): Promise<string> {
  const found = locateVggWeights(options.explicitDir);
  if (found) return found;
  const named = options.explicitDir ?? process.env.GRAMIAN_WEIGHTS;
  if (named) {
    const folder = path.resolve(named);
    const problem = existsSync(folder) ? `is missing ${MANIFEST_NAMES.join(' or ')}` : 'does not exist';
    throw new WeightsMissingError(folder, WEIGHTS_COMMAND, `the VGG19 weights folder ${folder} ${problem}`);
  }
  if (options.allowDownload === false) {
    throw new WeightsMissingError(
      vggCacheDir(),
      WEIGHTS_COMMAND,
      `no VGG19 weights in ${vggCacheDir()} and downloading is disabled`,
    );
  }
  return fetchVggWeights({ onProgress: options.onProgress, signal: options.signal });
}
