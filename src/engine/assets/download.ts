// The one way the engine fetches a file (VGG19 weights, style models): streamed to <file>.part while it is hashed,
// then renamed into place only once complete and, when a digest is expected, only when it matches. A partial or
// corrupt download therefore never sits where a finished file is looked for.
import { createHash, type Hash } from 'node:crypto';
import { mkdir, open, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { DownloadError, TransferAbortedError } from '../errors.js';

/** Progress of getting an asset onto disk, in one shape for every download (and the VGG19 conversion after it). */
export interface DownloadProgress {
  stage: 'download' | 'convert';
  /** Bytes downloaded, or bytes of converted weights written. */
  receivedBytes: number;
  /** Undefined when the server sends no Content-Length. */
  totalBytes?: number;
}

export type HashAlgorithm = 'md5' | 'sha256';

export interface DownloadOptions {
  /** Algorithm of the digest returned and checked (default sha256). */
  algorithm?: HashAlgorithm;
  /** Hex digest the file must have; on a mismatch the .part file is deleted and nothing is renamed. */
  expectedDigest?: string;
  /** A running hash that also sees every byte, for a digest taken over several files. */
  alsoHash?: Hash;
  /** Called after every chunk with this file's bytes so far and its announced size. */
  onBytes?: (receivedBytes: number, totalBytes: number | undefined) => void;
  signal?: AbortSignal;
}

/** The most useful line of a fetch failure: undici wraps the socket error (ECONNREFUSED, ENOTFOUND…) in `cause`. */
function describeFetchError(error: unknown): string {
  const cause = (error as { cause?: unknown }).cause;
  const inner = (cause ?? error) as { message?: string; code?: string };
  return inner.message || inner.code || String(error);
}

function aborted(url: string): TransferAbortedError {
  return new TransferAbortedError(`download of ${url} aborted`);
}

/**
 * Downloads url to file and returns the hex digest of its bytes. Throws DownloadError (network, HTTP status,
 * digest) or TransferAbortedError when the signal fires; in every failure the .part file is removed.
 */
export async function downloadFile(url: string, file: string, options: DownloadOptions = {}): Promise<string> {
  const { algorithm = 'sha256', expectedDigest, alsoHash, onBytes, signal } = options;
  if (signal?.aborted) throw aborted(url);
  let response: Response;
  try {
    response = await fetch(url, { signal });
  } catch (error) {
    if (signal?.aborted) throw aborted(url);
    throw new DownloadError(url, 'network', `${describeFetchError(error)}; offline?`);
  }
  if (!response.ok || !response.body) {
    await response.body?.cancel();
    throw new DownloadError(url, 'http', `HTTP ${response.status} ${response.statusText}`);
  }
  const totalBytes = Number(response.headers.get('content-length')) || undefined;
  const partFile = `${file}.part`;
  await mkdir(path.dirname(file), { recursive: true });
  const out = await open(partFile, 'w');
  const hash = createHash(algorithm);
  let receivedBytes = 0;
  try {
    const reader = response.body.getReader();
    for (;;) {
      let chunk: ReadableStreamReadResult<Uint8Array>;
      try {
        chunk = await reader.read();
      } catch (error) {
        if (signal?.aborted) throw aborted(url);
        throw new DownloadError(
          url,
          'network',
          `connection lost after ${receivedBytes} bytes: ${describeFetchError(error)}`,
        );
      }
      if (chunk.done) break;
      hash.update(chunk.value);
      alsoHash?.update(chunk.value);
      await out.write(chunk.value);
      receivedBytes += chunk.value.byteLength;
      onBytes?.(receivedBytes, totalBytes);
    }
    await out.close();
  } catch (error) {
    await out.close().catch(() => {});
    await rm(partFile, { force: true });
    throw error;
  }
  const digest = hash.digest('hex');
  if (expectedDigest !== undefined && digest !== expectedDigest) {
    await rm(partFile, { force: true });
    throw new DownloadError(
      url,
      'digest',
      `downloaded with ${algorithm} ${digest}, expected ${expectedDigest} ` +
        '(corrupted download or a different file); deleted it',
    );
  }
  await rename(partFile, file);
  return digest;
}
