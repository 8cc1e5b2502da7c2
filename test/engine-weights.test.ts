// VGG19 weights fetch + Keras HDF5 conversion, against synthetic Keras files and a local HTTP server (no network).
import * as tf from '@tensorflow/tfjs';
import h5wasm from 'h5wasm/node';
import { createHash } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  convertKerasVgg19,
  ensureVggWeights,
  fetchVggWeights,
  KERAS_VGG19,
  MANIFEST_NAMES,
  TransferAbortedError,
  type DownloadProgress,
  WeightsInvalidError,
  WeightsMissingError,
} from '../src/engine/index.js';
import { CONV_LAYERS, readWeightsFolder } from '../src/engine/gatys/index.js';

const SLOW = { timeout: 20_000 };
const CHANNELS = [64, 64, 128, 128, 256, 256, 256, 256, 512, 512, 512, 512, 512, 512, 512, 512];
type Shape4 = [number, number, number, number];

/** Real VGG19 kernel shape of conv layer `layer` (index into CONV_LAYERS), HWIO as Keras stores it. */
function hwioShape(layer: number): Shape4 {
  return [3, 3, layer === 0 ? 3 : CHANNELS[layer - 1]!, CHANNELS[layer]!];
}

function hwioIndex([, width, inChannels, outChannels]: Shape4, h: number, w: number, i: number, o: number): number {
  return ((h * width + w) * inChannels + i) * outChannels + o;
}

/**
 * Fills kernel element k (flat HWIO index) with k itself (exact in float32, all indices are < 2^24) so that every
 * output element names the input element it came from; bias element o of layer l holds 1000·l + o.
 */
function kernelPattern(shape: Shape4): Float32Array {
  return Float32Array.from({ length: shape.reduce((a, b) => a * b) }, (_, k) => k);
}

function biasPattern(layer: number): Float32Array {
  return Float32Array.from({ length: CHANNELS[layer]! }, (_, o) => 1000 * layer + o);
}

type Naming = 'old' | 'new';

/**
 * Writes an HDF5 file in Keras's save_weights layout: root attribute layer_names (fixed-length strings, as h5py
 * writes them), one group per layer with a weight_names attribute, datasets at <layer>/<weight name>. `old` is the
 * fchollet naming (block1_conv1_W_1:0), `new` the Keras 2 one (block1_conv1/kernel:0, a nested group).
 * `shapes` overrides kernel shapes by Keras layer name, to build broken files.
 */
async function writeKerasH5(
  file: string,
  naming: Naming,
  layers = CONV_LAYERS.length,
  shapes: Record<string, Shape4> = {},
): Promise<void> {
  await h5wasm.ready;
  const h5 = new h5wasm.File(file, 'w');
  try {
    const convNames = CONV_LAYERS.slice(0, layers).map((name) => name.replace(/^conv(\d)_(\d)$/, 'block$1_conv$2'));
    const layerNames = ['input_1', ...convNames, 'block1_pool'];
    const fixedLength = (names: string[]) => `S${Math.max(...names.map((n) => n.length))}`;
    h5.create_attribute('layer_names', layerNames, [layerNames.length], fixedLength(layerNames));
    h5.create_attribute('backend', 'tensorflow');
    for (const empty of ['input_1', 'block1_pool'])
      h5.create_group(empty).create_attribute('weight_names', new Float64Array(0), [0]);
    convNames.forEach((layer, l) => {
      const group = h5.create_group(layer);
      const weightNames =
        naming === 'old' ? [`${layer}_W_1:0`, `${layer}_b_1:0`] : [`${layer}/kernel:0`, `${layer}/bias:0`];
      group.create_attribute('weight_names', weightNames, [2], fixedLength(weightNames));
      // h5wasm's create_dataset does not create intermediate groups (and fails silently), so make them.
      if (naming === 'new') group.create_group(layer);
      const shape = shapes[layer] ?? hwioShape(l);
      h5.create_dataset({ name: `${layer}/${weightNames[0]}`, data: kernelPattern(shape), shape, dtype: '<f' });
      h5.create_dataset({
        name: `${layer}/${weightNames[1]}`,
        data: biasPattern(l),
        shape: [CHANNELS[l]!],
        dtype: '<f',
      });
    });
  } finally {
    h5.close();
  }
}

async function md5Of(file: string): Promise<string> {
  return createHash('md5')
    .update(await readFile(file))
    .digest('hex');
}

/** Checks every kernel element of a converted folder against the pattern: HWIO [h,w,i,o] lands at [w,h,i,o]. */
async function expectConverted(folder: string): Promise<void> {
  const tensors = await readWeightsFolder(folder);
  try {
    expect(Object.keys(tensors).sort()).toEqual(CONV_LAYERS.flatMap((n) => [`${n}/bias`, `${n}/kernel`]).sort());
    CONV_LAYERS.forEach((name, l) => {
      const hwio = hwioShape(l);
      const [height, width, inChannels, outChannels] = hwio;
      const kernel = tensors[`${name}/kernel`]!;
      expect(kernel.shape).toEqual([width, height, inChannels, outChannels]);
      const data = kernel.dataSync();
      // conv1_1 also has its input channels reversed (Keras BGR → RGB).
      const sourceChannel = (i: number) => (l === 0 ? inChannels - 1 - i : i);
      let mismatches = 0;
      for (let w = 0; w < width; w++)
        for (let h = 0; h < height; h++)
          for (let i = 0; i < inChannels; i++)
            for (let o = 0; o < outChannels; o++) {
              const whio = ((w * height + h) * inChannels + i) * outChannels + o;
              if (data[whio] !== hwioIndex(hwio, h, w, sourceChannel(i), o)) mismatches++;
            }
      expect(mismatches, `${name} kernel elements out of place`).toBe(0);
      expect(Array.from(tensors[`${name}/bias`]!.dataSync())).toEqual(Array.from(biasPattern(l)));
    });
  } finally {
    Object.values(tensors).forEach((t) => t.dispose());
  }
}

let root: string;
let oldH5: string;
let oldMd5: string;
let server: http.Server;
let baseUrl: string;
let requests = 0;

beforeAll(async () => {
  await tf.setBackend('cpu');
  root = await mkdtemp(path.join(os.tmpdir(), 'gramian-weights-'));
  oldH5 = path.join(root, 'keras-old.h5');
  await writeKerasH5(oldH5, 'old');
  oldMd5 = await md5Of(oldH5);
  server = http.createServer((req, res) => {
    requests++;
    if (req.url === '/stalls.h5') {
      // Sends a first chunk, then nothing: only an abort ends this download.
      res.writeHead(200, { 'content-length': 1 << 20 }).write(Buffer.alloc(1 << 16));
      return;
    }
    if (req.url !== '/vgg19.h5') {
      res.writeHead(404).end();
      return;
    }
    stat(oldH5)
      .then(({ size }) => {
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': size });
        createReadStream(oldH5).pipe(res);
      })
      .catch(() => res.writeHead(500).end());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}, 30_000);

afterAll(async () => {
  server?.closeAllConnections();
  await new Promise((resolve) => server?.close(resolve));
  if (root) await rm(root, { recursive: true, force: true });
});

/** A fresh pair of cache and downloads folders under the test root. */
async function freshDirs(): Promise<{ cacheDir: string; downloadsDir: string }> {
  const base = await mkdtemp(path.join(root, 'run-'));
  return { cacheDir: path.join(base, 'cache', 'vgg19'), downloadsDir: path.join(base, 'cache', 'downloads') };
}

describe('convertKerasVgg19', () => {
  it(
    'converts the old fchollet naming: kernels [W,H,in,out], conv1_1 RGB, readable manifest, SOURCE.json',
    SLOW,
    async () => {
      const outDir = path.join(root, 'convert-old', 'vgg19');
      const progress: DownloadProgress[] = [];
      await convertKerasVgg19(oldH5, outDir, {
        sourceUrl: 'https://example.invalid/vgg19.h5',
        onProgress: (p) => progress.push(p),
      });

      expect(await readdir(path.dirname(outDir))).toEqual(['vgg19']);
      expect(existsSync(path.join(outDir, MANIFEST_NAMES[0]))).toBe(true);
      const manifest = JSON.parse(await readFile(path.join(outDir, MANIFEST_NAMES[0]), 'utf8')) as {
        weights: { dtype: string; quantization?: unknown }[];
      }[];
      expect(
        manifest.flatMap((g) => g.weights).every((w) => w.dtype === 'float32' && w.quantization === undefined),
      ).toBe(true);
      await expectConverted(outDir);

      // One element spelled out: conv3_2 HWIO [h=2,w=0,i=17,o=200] is at [w,h,i,o] = [0,2,17,200].
      const tensors = await readWeightsFolder(outDir);
      const conv32 = tensors['conv3_2/kernel']!;
      expect(conv32.bufferSync().get(0, 2, 17, 200)).toBe(
        hwioIndex(hwioShape(CONV_LAYERS.indexOf('conv3_2')), 2, 0, 17, 200),
      );
      // conv1_1: the R input (index 0 here) is the Keras B input (index 2).
      expect(tensors['conv1_1/kernel']!.bufferSync().get(1, 0, 0, 5)).toBe(hwioIndex(hwioShape(0), 0, 1, 2, 5));
      Object.values(tensors).forEach((t) => t.dispose());

      const source = JSON.parse(await readFile(path.join(outDir, 'SOURCE.json'), 'utf8')) as {
        source: { md5: string; url: string; file: string };
      };
      expect(source.source).toEqual({ file: 'keras-old.h5', url: 'https://example.invalid/vgg19.h5', md5: oldMd5 });
      expect(progress.every((p) => p.stage === 'convert')).toBe(true);
      expect(progress.at(-1)!.receivedBytes).toBe(progress.at(-1)!.totalBytes);
    },
  );

  it('converts the Keras 2 naming (block1_conv1/kernel:0) and replaces an existing folder whole', SLOW, async () => {
    const newH5 = path.join(root, 'keras-new.h5');
    await writeKerasH5(newH5, 'new');
    const outDir = path.join(root, 'convert-new', 'vgg19');
    await mkdir(outDir, { recursive: true });
    await writeFile(path.join(outDir, 'stale.bin'), 'from an older conversion');

    await convertKerasVgg19(newH5, outDir);

    expect(existsSync(path.join(outDir, 'stale.bin'))).toBe(false);
    expect(await readdir(path.dirname(outDir))).toEqual(['vgg19']);
    await expectConverted(outDir);
    await rm(newH5);
  });

  it('rejects a file without all 16 VGG19 conv layers, naming what is wrong, and writes nothing', async () => {
    const partial = path.join(root, 'partial.h5');
    await writeKerasH5(partial, 'old', 3, { block2_conv1: [3, 3, 64, 64] });
    const outDir = path.join(root, 'convert-partial', 'vgg19');

    const error = await convertKerasVgg19(partial, outDir).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(WeightsInvalidError);
    expect((error as Error).message).toContain('block2_conv1 kernel has shape [3,3,64,64], expected [3,3,64,128]');
    expect((error as Error).message).toContain('block2_conv2 is missing');
    expect((error as Error).message).toContain('block5_conv4 is missing');
    expect((error as Error).message).not.toContain('block1_conv1');
    expect(existsSync(path.dirname(outDir))).toBe(false);
  });

  it('rejects a file that is not HDF5', async () => {
    const notH5 = path.join(root, 'not.h5');
    await writeFile(notH5, '<html>captive portal</html>');
    await expect(convertKerasVgg19(notH5, path.join(root, 'convert-bad', 'vgg19'))).rejects.toThrow(
      /is not an HDF5 file/,
    );
  });
});

describe('fetchVggWeights', () => {
  it('downloads with progress, verifies the md5, converts, and leaves no .part file', SLOW, async () => {
    const { cacheDir, downloadsDir } = await freshDirs();
    const progress: DownloadProgress[] = [];
    const before = requests;

    const folder = await fetchVggWeights({
      url: `${baseUrl}/vgg19.h5`,
      md5: oldMd5,
      cacheDir,
      downloadsDir,
      onProgress: (p) => progress.push(p),
    });

    expect(folder).toBe(cacheDir);
    expect(requests - before).toBe(1);
    expect(existsSync(path.join(cacheDir, MANIFEST_NAMES[0]))).toBe(true);
    expect(await readdir(downloadsDir)).toEqual([KERAS_VGG19.file]);
    const size = (await stat(oldH5)).size;
    const downloads = progress.filter((p) => p.stage === 'download');
    expect(downloads.length).toBeGreaterThan(1);
    expect(downloads.every((p) => p.totalBytes === size)).toBe(true);
    expect(downloads.at(-1)!.receivedBytes).toBe(size);
    expect(progress.some((p) => p.stage === 'convert')).toBe(true);
  });

  it('uses an .h5 already in the downloads folder without any request', SLOW, async () => {
    const { cacheDir, downloadsDir } = await freshDirs();
    await mkdir(downloadsDir, { recursive: true });
    await copyFile(oldH5, path.join(downloadsDir, KERAS_VGG19.file));
    const before = requests;

    await fetchVggWeights({ url: `${baseUrl}/vgg19.h5`, md5: oldMd5, cacheDir, downloadsDir });

    expect(requests).toBe(before);
    expect(existsSync(path.join(cacheDir, MANIFEST_NAMES[0]))).toBe(true);
  });

  it('rejects a pre-placed .h5 with the wrong md5', async () => {
    const { cacheDir, downloadsDir } = await freshDirs();
    await mkdir(downloadsDir, { recursive: true });
    await writeFile(path.join(downloadsDir, KERAS_VGG19.file), 'truncated');
    await expect(fetchVggWeights({ url: `${baseUrl}/vgg19.h5`, md5: oldMd5, cacheDir, downloadsDir })).rejects.toThrow(
      WeightsInvalidError,
    );
  });

  it('rejects a download with the wrong md5, stating both hashes, and deletes the .part file', SLOW, async () => {
    const { cacheDir, downloadsDir } = await freshDirs();
    const wrongMd5 = '0'.repeat(32);

    const error = await fetchVggWeights({ url: `${baseUrl}/vgg19.h5`, md5: wrongMd5, cacheDir, downloadsDir }).catch(
      (e: unknown) => e,
    );

    expect(error).toBeInstanceOf(WeightsInvalidError);
    expect((error as Error).message).toContain(wrongMd5);
    expect((error as Error).message).toContain(oldMd5);
    expect(await readdir(downloadsDir)).toEqual([]);
    expect(existsSync(cacheDir)).toBe(false);
  });

  it('reports a refused connection as WeightsMissingError naming the cache folder and where the .h5 goes', async () => {
    const { cacheDir, downloadsDir } = await freshDirs();
    // A port that was just free: fetch refuses port 1 itself ("bad port") before connecting.
    const closed = http.createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(closed.address() as AddressInfo).port}/vgg19.h5`;
    await new Promise((resolve) => closed.close(resolve));

    const error = await fetchVggWeights({ url, cacheDir, downloadsDir }).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(WeightsMissingError);
    const { message, folder } = error as WeightsMissingError;
    expect(folder).toBe(cacheDir);
    for (const part of [
      url,
      'ECONNREFUSED',
      'offline?',
      cacheDir,
      downloadsDir,
      KERAS_VGG19.file,
      KERAS_VGG19.md5,
      'npx gramian weights',
    ])
      expect(message).toContain(part);
    expect(existsSync(downloadsDir) ? await readdir(downloadsDir) : []).toEqual([]);
  });

  it('reports an HTTP error status as WeightsMissingError', async () => {
    const { cacheDir, downloadsDir } = await freshDirs();
    await expect(fetchVggWeights({ url: `${baseUrl}/gone.h5`, cacheDir, downloadsDir })).rejects.toThrow(/HTTP 404/);
  });

  it('stops with TransferAbortedError when aborted mid-download, and deletes the .part file', async () => {
    const { cacheDir, downloadsDir } = await freshDirs();
    const controller = new AbortController();
    const download = fetchVggWeights({
      url: `${baseUrl}/stalls.h5`,
      cacheDir,
      downloadsDir,
      signal: controller.signal,
      onProgress: () => controller.abort(),
    });
    await expect(download).rejects.toThrow(TransferAbortedError);
    expect(await readdir(downloadsDir)).toEqual([]);
  });

  it('stops with TransferAbortedError when the signal is aborted, before any request', async () => {
    const { cacheDir, downloadsDir } = await freshDirs();
    const before = requests;
    await expect(
      fetchVggWeights({ url: `${baseUrl}/vgg19.h5`, cacheDir, downloadsDir, signal: AbortSignal.abort() }),
    ).rejects.toThrow(TransferAbortedError);
    expect(requests).toBe(before);
  });
});

describe('ensureVggWeights', () => {
  /** Runs fn with GRAMIAN_CACHE at a fresh folder (so the real ~/.cache is never touched) and env overrides. */
  async function withCacheEnv<T>(
    overrides: Record<string, string | undefined>,
    fn: (cacheRoot: string) => Promise<T>,
  ): Promise<T> {
    const cacheRoot = await mkdtemp(path.join(root, 'env-cache-'));
    const vars = { GRAMIAN_CACHE: cacheRoot, GRAMIAN_WEIGHTS: undefined, GRAMIAN_VGG19_URL: undefined, ...overrides };
    const saved = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]));
    const apply = (values: Record<string, string | undefined>) =>
      Object.entries(values).forEach(([k, v]) => (v === undefined ? delete process.env[k] : (process.env[k] = v)));
    apply(vars);
    try {
      return await fn(cacheRoot);
    } finally {
      apply(saved);
    }
  }

  it('returns an explicit folder that holds a manifest', async () => {
    const explicitDir = path.join(root, 'convert-old', 'vgg19');
    await withCacheEnv({}, async () => expect(await ensureVggWeights({ explicitDir })).toBe(explicitDir));
  });

  it('says which named folder is missing the manifest (explicitDir and GRAMIAN_WEIGHTS)', async () => {
    const empty = await mkdtemp(path.join(root, 'empty-weights-'));
    await withCacheEnv({}, async () => {
      const error = await ensureVggWeights({ explicitDir: empty }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(WeightsMissingError);
      expect((error as Error).message).toContain(`${empty} is missing ${MANIFEST_NAMES[0]}`);
    });
    await withCacheEnv({ GRAMIAN_WEIGHTS: empty }, async () => {
      await expect(ensureVggWeights()).rejects.toThrow(`${empty} is missing ${MANIFEST_NAMES[0]}`);
    });
  });

  it('throws WeightsMissingError when nothing is found and downloads are off', async () => {
    await withCacheEnv({}, async (cacheRoot) => {
      const error = await ensureVggWeights({ allowDownload: false }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(WeightsMissingError);
      expect((error as WeightsMissingError).folder).toBe(path.join(cacheRoot, 'vgg19'));
    });
  });

  it('finds weights in the cache folder without downloading', async () => {
    await withCacheEnv({ GRAMIAN_VGG19_URL: `${baseUrl}/vgg19.h5` }, async (cacheRoot) => {
      const cached = path.join(cacheRoot, 'vgg19');
      await mkdir(cached);
      await writeFile(path.join(cached, MANIFEST_NAMES[0]), '[]');
      const before = requests;
      expect(await ensureVggWeights()).toBe(cached);
      expect(requests).toBe(before);
    });
  });

  it("downloads from GRAMIAN_VGG19_URL into the cache when nothing is found, checking Keras's md5", SLOW, async () => {
    // ensureVggWeights always checks the real Keras md5, which the synthetic file fails: that proves the download
    // went to GRAMIAN_VGG19_URL and was verified (the success path is covered by fetchVggWeights above).
    await withCacheEnv({ GRAMIAN_VGG19_URL: `${baseUrl}/vgg19.h5` }, async (cacheRoot) => {
      const before = requests;
      await expect(ensureVggWeights()).rejects.toThrow(`expected ${KERAS_VGG19.md5}`);
      expect(requests - before).toBe(1);
      expect(await readdir(path.join(cacheRoot, 'downloads'))).toEqual([]);
    });
  });
});
