// The 14 published fast-style models (9 ml5 Engstrom checkpoints, 5 ncnn PyTorch TransformerNets) on a real photo,
// in-process and through the engine's worker. The outputs and a contact sheet are written to a folder under the OS
// temp dir (printed) for a person to look at.
import * as tf from '@tensorflow/tfjs';
import { mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../src/engine/runtime/index.js';
import { Engine, EngineInputError, StyleModelError, TransferAbortedError } from '../src/engine/index.js';
import { fastTransfer, loadStyleModel, type StyleModelSource } from '../src/engine/fast-style/index.js';
import { SHARED, VGG19_UINT8, contentImage, readShared } from './helpers/shared.js';
import { drain } from './helpers/events.js';

const ML5 = path.join(SHARED, 'models/fast-style-ml5');
const NCNN = path.join(SHARED, 'models/pytorch-fns-ncnn-fp16');
const SIZE = 256;
const OUTPUT_DIR = path.join(os.tmpdir(), 'gramian-fast-style-real');

const ML5_STYLES = [
  'la_muse',
  'mathura',
  'matilde_perez',
  'matta',
  'rain_princess',
  'scream',
  'udnie',
  'wave',
  'wreck',
];
const NCNN_STYLES = ['candy9', 'mosaic-9', 'pointilism-9', 'rain-princess-9', 'udnie-9'];
const MODELS: { name: string; source: StyleModelSource }[] = [
  ...ML5_STYLES.map((name) => ({
    name: `ml5-${name}`,
    source: {
      architecture: 'engstrom',
      format: 'ml5-checkpoint',
      path: path.join(ML5, name),
    } satisfies StyleModelSource,
  })),
  ...NCNN_STYLES.map((name) => ({
    name: `ncnn-${name}`,
    source: {
      architecture: 'pytorch',
      format: 'ncnn',
      path: path.join(NCNN, `${name}.param`),
    } satisfies StyleModelSource,
  })),
];

let amber: Uint8Array;
/** The content as the runs see it: decoded at SIZE. */
let contentPixels: Buffer;

beforeAll(async () => {
  amber = await readShared(contentImage('amber.jpg'));
  contentPixels = await sharp(amber)
    .resize(SIZE, SIZE, { fit: 'fill', kernel: 'lanczos3' })
    .removeAlpha()
    .raw()
    .toBuffer();
  await rm(OUTPUT_DIR, { recursive: true, force: true });
  await mkdir(OUTPUT_DIR, { recursive: true });
});

describe('the 14 published models on amber.jpg at 256 px', () => {
  const outputs = new Map<string, Uint8Array>();

  beforeAll(async () => {
    await initBackend();
  });

  afterAll(async () => {
    if (outputs.size === 0) return;
    // Contact sheet: the content, then every style, 5 to a row, each labelled.
    const tiles = [
      ['content', await sharp(amber).resize(SIZE, SIZE).png().toBuffer()] as const,
      ...[...outputs].map(([name, png]) => [name, Buffer.from(png)] as const),
    ];
    const columns = 5;
    const label = 20;
    const rows = Math.ceil(tiles.length / columns);
    const composites = tiles.flatMap(([name, png], i) => {
      const left = (i % columns) * SIZE;
      const top = Math.floor(i / columns) * (SIZE + label);
      const text = Buffer.from(
        `<svg width="${SIZE}" height="${label}"><rect width="100%" height="100%" fill="white"/>` +
          `<text x="4" y="15" font-family="sans-serif" font-size="14">${name}</text></svg>`,
      );
      return [
        { input: png, left, top },
        { input: text, left, top: top + SIZE },
      ];
    });
    await sharp({
      create: { width: columns * SIZE, height: rows * (SIZE + label), channels: 3, background: '#ffffff' },
    })
      .composite(composites)
      .png()
      .toFile(path.join(OUTPUT_DIR, 'contact-sheet.png'));
    console.log(`fast-style outputs and contact sheet: ${OUTPUT_DIR}`);
  });

  it.each(MODELS)('$name stylises the photo (not flat, not the content)', async ({ name, source }) => {
    const before = tf.memory().numTensors;
    const model = await loadStyleModel(source);
    expect(model.channels).toEqual([32, 64, 128, ...Array<number>(10).fill(128), 64, 32, 3]);
    const events = await drain(fastTransfer({ content: amber, size: SIZE }, { model }));
    model.dispose();
    expect(tf.memory().numTensors).toBe(before);
    const done = events.at(-1)!;
    if (done.type !== 'done') throw new Error('no done event');
    expect([done.image.width, done.image.height]).toEqual([SIZE, SIZE]);
    outputs.set(name, done.image.bytes);
    await writeFile(path.join(OUTPUT_DIR, `${name}.png`), done.image.bytes);
    const pixels = await sharp(done.image.bytes).raw().toBuffer();
    // Per-channel spread: a broken network gives a flat (or nearly flat) image.
    for (let c = 0; c < 3; c++) {
      let sum = 0;
      let sq = 0;
      for (let i = c; i < pixels.length; i += 3) {
        sum += pixels[i]!;
        sq += pixels[i]! ** 2;
      }
      const n = pixels.length / 3;
      const std = Math.sqrt(sq / n - (sum / n) ** 2);
      expect(std, `${name} channel ${c}`).toBeGreaterThan(15);
    }
    let diff = 0;
    for (let i = 0; i < pixels.length; i++) diff += Math.abs(pixels[i]! - contentPixels[i]!);
    expect(diff / pixels.length, name).toBeGreaterThan(12);
  });

  it('wrote every output', async () => {
    expect((await readdir(OUTPUT_DIR)).filter((f) => f.endsWith('.png')).length).toBeGreaterThanOrEqual(MODELS.length);
  });
});

describe('Engine.stylize (worker)', () => {
  let engine: Engine;
  const mosaic = MODELS.find((m) => m.name === 'ncnn-mosaic-9')!.source;
  const udnie = MODELS.find((m) => m.name === 'ml5-udnie')!.source;

  beforeAll(async () => {
    engine = await Engine.start({ weightsDir: VGG19_UINT8, allowDownload: false });
  });

  afterAll(async () => {
    await engine.close();
  });

  it('runs a model in the worker: started, step, done with a PNG; the model stays cached', async () => {
    const baseline = (await engine.stats()).numTensors;
    const events = await drain(engine.run({ kind: 'FAST', params: { model: mosaic, content: amber, size: 200 } }));
    expect(events.map((e) => e.type)).toEqual(['started', 'step', 'done']);
    expect(events[0]).toMatchObject({ width: 200, height: 200, totalSteps: 1 });
    const done = events[2]!;
    if (done.type !== 'done') throw new Error('no done event');
    expect(done.image.bytes).toBeInstanceOf(Uint8Array);
    expect(await sharp(done.image.bytes).metadata()).toMatchObject({ format: 'png', width: 200, height: 200 });
    // Scored against the content only: the job carries no reference painting.
    expect(done.quality?.style).toBeNull();
    expect(done.quality?.content).toBeGreaterThan(0);
    const stats = await engine.stats();
    expect(stats.styleModelEntries).toBe(1);
    const withModel = stats.numTensors;
    expect(withModel).toBeGreaterThan(baseline);
    // A second run reuses the loaded model and leaves no tensor behind.
    await drain(
      engine.run({
        kind: 'FAST',
        params: { model: udnie, content: amber, size: 64, preserveColors: true, strength: 0.7 },
      }),
    );
    await drain(engine.run({ kind: 'FAST', params: { model: mosaic, content: amber, size: 64 } }));
    expect((await engine.stats()).styleModelEntries).toBe(2);
  });

  it('checks parameters and the model description before queueing', async () => {
    await expect(
      drain(engine.run({ kind: 'FAST', params: { model: mosaic, content: amber, strength: 2 } })),
    ).rejects.toBeInstanceOf(EngineInputError);
    await expect(
      drain(engine.run({ kind: 'FAST', params: { model: { ...mosaic, architecture: 'engstrom' }, content: amber } })),
    ).rejects.toThrow(/does not come in the ncnn format/);
  });

  it('reports a bad model from the worker as StyleModelError, and the worker carries on', async () => {
    const error = await drain(
      engine.run({
        kind: 'FAST',
        params: { model: { ...udnie, path: path.join(ML5, 'no-such-style') }, content: amber, size: 64 },
      }),
    ).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StyleModelError);
    expect((error as StyleModelError).code).toBe('MODEL_INVALID');
    expect((error as Error).message).toMatch(/no readable manifest\.json/);
    const events = await drain(engine.run({ kind: 'FAST', params: { model: udnie, content: amber, size: 64 } }));
    expect(events.at(-1)?.type).toBe('done');
  });

  it('stops a running pass between layers when aborted', async () => {
    const before = (await engine.stats()).numTensors;
    const controller = new AbortController();
    const seen: string[] = [];
    const run = drain(
      engine.run(
        { kind: 'FAST', params: { model: mosaic, content: amber, size: 1024 } },
        { signal: controller.signal },
      ),
      (event) => {
        seen.push(event.type);
        // Give the worker time to be inside the forward pass.
        if (event.type === 'started') setTimeout(() => controller.abort(), 300);
      },
    );
    await expect(run).rejects.toBeInstanceOf(TransferAbortedError);
    // Stopped inside the pass: the pass never reported its (one) step, so it did not run to its end first.
    expect(seen).toEqual(['started']);
    expect(engine.info().running).toBe(0);
    expect((await engine.stats()).numTensors).toBe(before);
  });
});
