// Whole Gatys runs in-process on the real VGG19 at small sizes: events, tensor hygiene, determinism, options.
import * as tf from '@tensorflow/tfjs';
import sharp from 'sharp';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { initBackend } from '../src/engine/runtime/index.js';
import {
  type DoneEvent,
  EngineInputError,
  TransferAbortedError,
  type TransferEvent,
  type TransferParams,
} from '../src/engine/index.js';
import { type GatysContext, gatysTransfer, GramCache, loadVgg19, type Vgg19 } from '../src/engine/gatys/index.js';
import { VGG19_UINT8, contentImage, readShared, styleImage } from './helpers/shared.js';
import { drain } from './helpers/events.js';

let vgg: Vgg19;
let content: Uint8Array;
let starryNight: Uint8Array;
let scream: Uint8Array;

beforeAll(async () => {
  await initBackend();
  vgg = await loadVgg19(VGG19_UINT8);
  content = await readShared(contentImage('tubingen.jpg'));
  starryNight = await readShared(styleImage('starry_night.jpg'));
  scream = await readShared(styleImage('the_scream.jpg'));
});

async function collect(params: Partial<TransferParams>, context: Partial<GatysContext> = {}): Promise<TransferEvent[]> {
  return drain(
    gatysTransfer(
      { content, styles: [{ image: starryNight }], size: 48, steps: 4, previewEvery: 0, ...params },
      { vgg, ...context },
    ),
  );
}

const doneOf = (events: TransferEvent[]) => events.find((e): e is DoneEvent => e.type === 'done')!;

/** Mean YIQ chroma (I, Q) of an encoded image. */
async function meanChroma(bytes: Uint8Array): Promise<[number, number]> {
  const { data } = await sharp(bytes)
    .resize(48, 36, { fit: 'fill' })
    .removeAlpha()
    .raw()
    .toBuffer({ resolveWithObject: true });
  let i = 0;
  let q = 0;
  for (let p = 0; p < data.length; p += 3) {
    const [r, g, b] = [data[p]!, data[p + 1]!, data[p + 2]!];
    i += 0.595716 * r - 0.274453 * g - 0.321263 * b;
    q += 0.211456 * r - 0.522591 * g + 0.311135 * b;
  }
  return [i / (data.length / 3), q / (data.length / 3)];
}

describe('gatysTransfer', () => {
  it('streams started, every step in order, previews and a decodable result; tensors stay flat', async () => {
    const baseline = tf.memory().numTensors;
    const perStep: number[] = [];
    const events: TransferEvent[] = [];
    for await (const event of gatysTransfer(
      {
        content,
        styles: [{ image: starryNight }],
        size: 64,
        steps: 20,
        previewEvery: 5,
        previewSize: 32,
        lbfgsHistory: 5,
      },
      { vgg },
    )) {
      events.push(event);
      if (event.type === 'step') perStep.push(tf.memory().numTensors);
    }
    expect(tf.memory().numTensors).toBe(baseline);
    // L-BFGS keeps its curvature pairs on the backend: two tensors a step until its memory (5 pairs) is full, then
    // the count stays flat for the rest of the run.
    expect(perStep[6]! - perStep[0]!).toBe(2 * 5);
    expect(new Set(perStep.slice(6)).size).toBe(1);
    expect(events[0]).toMatchObject({ type: 'started', width: 64, height: 48, totalSteps: 20, scaleSizes: [64] });
    const steps = events.filter((e) => e.type === 'step');
    expect(steps.map((s) => s.step)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    const previews = events.filter((e) => e.type === 'preview');
    expect(previews.map((p) => p.step)).toEqual([5, 10, 15]);
    expect(previews[0]).toMatchObject({ image: { mime: 'image/jpeg', width: 32, height: 24 } });
    const done = doneOf(events);
    expect(events.at(-1)).toBe(done);
    const meta = await sharp(done.image.bytes).metadata();
    expect([meta.format, meta.width, meta.height]).toEqual(['png', 64, 48]);
    expect(done.losses.total).toBeLessThan(steps[0]!.totalLoss / 3);
    expect(done.losses.total).toBe(steps.at(-1)!.totalLoss);
  });

  it('gives the same image for the same seed, and another for another seed', async () => {
    const a = doneOf(await collect({ init: 'noise', seed: 42 })).image.bytes;
    const b = doneOf(await collect({ init: 'noise', seed: 42 })).image.bytes;
    const c = doneOf(await collect({ init: 'noise', seed: 43 })).image.bytes;
    expect(Buffer.compare(a, b)).toBe(0);
    expect(Buffer.compare(a, c)).not.toBe(0);
  });

  it('stops at the next step when asked and releases every tensor', async () => {
    const baseline = tf.memory().numTensors;
    let steps = 0;
    const counting = (async () => {
      for await (const event of gatysTransfer(
        { content, styles: [{ image: starryNight }], size: 48, steps: 50 },
        { vgg, stop: () => (steps >= 3 ? 'abort' : undefined) },
      )) {
        if (event.type === 'step') steps += 1;
      }
    })();
    await expect(counting).rejects.toBeInstanceOf(TransferAbortedError);
    expect(steps).toBe(3);
    expect(tf.memory().numTensors).toBe(baseline);
  });

  it('saves a checkpoint on request and resumes from it where it stopped', async () => {
    const baseline = tf.memory().numTensors;
    const params = { size: 64, steps: 4, scales: 2 };
    let steps = 0;
    const stopped: TransferEvent[] = [];
    const run = (async () => {
      for await (const event of gatysTransfer(
        { content, styles: [{ image: starryNight }], previewEvery: 0, ...params },
        { vgg, stop: () => (steps >= 5 ? 'checkpoint' : undefined) },
      )) {
        stopped.push(event);
        if (event.type === 'step') steps += 1;
      }
    })();
    await expect(run).rejects.toBeInstanceOf(TransferAbortedError);
    expect(tf.memory().numTensors).toBe(baseline);
    const checkpoint = stopped.at(-1)!;
    expect(checkpoint).toMatchObject({ type: 'checkpoint', step: 5, state: expect.any(Uint8Array) });
    const resumed = await collect({
      ...params,
      resume: { state: checkpoint.type === 'checkpoint' ? checkpoint.state : new Uint8Array(), step: 5 },
    });
    const resumedSteps = resumed.filter((e) => e.type === 'step');
    expect(resumedSteps.map((s) => [s.step, s.scale])).toEqual([
      [6, 2],
      [7, 2],
      [8, 2],
    ]);
    // The resumed run continues from the checkpoint's loss level, not from a fresh start.
    const stoppedLast = stopped.filter((e) => e.type === 'step').at(-1)!;
    expect(resumedSteps[0]!.totalLoss).toBeLessThan(1.5 * stoppedLast.totalLoss);
    expect(doneOf(resumed)).toMatchObject({ steps: 8, image: { width: 64 } });
  });

  it('keeps the content colours with preserveColors', async () => {
    const reference = await meanChroma(content);
    const styled = await meanChroma(doneOf(await collect({ steps: 15 })).image.bytes);
    const preserved = await meanChroma(doneOf(await collect({ steps: 15, preserveColors: true })).image.bytes);
    const distance = (a: number[], b: number[]) => Math.hypot(a[0]! - b[0]!, a[1]! - b[1]!);
    expect(distance(preserved, reference)).toBeLessThan(1.5);
    expect(distance(styled, reference)).toBeGreaterThan(3 * distance(preserved, reference));
  });

  it('blends style images by weight', async () => {
    const single = doneOf(await collect({ styles: [{ image: starryNight }] })).image.bytes;
    const withZero = doneOf(
      await collect({
        styles: [
          { image: starryNight, weight: 2 },
          { image: scream, weight: 0 },
        ],
      }),
    ).image.bytes;
    const blended = doneOf(
      await collect({
        styles: [
          { image: starryNight, weight: 0.5 },
          { image: scream, weight: 0.5 },
        ],
      }),
    ).image.bytes;
    expect(Buffer.compare(single, withZero)).toBe(0);
    expect(Buffer.compare(single, blended)).not.toBe(0);
  });

  it('runs coarse to fine, each scale from the previous result', async () => {
    const events = await collect({ size: 96, scales: 2, steps: 3 });
    const steps = events.filter((e) => e.type === 'step');
    expect(steps.map((s) => [s.step, s.scale, s.totalSteps])).toEqual([
      [1, 1, 6],
      [2, 1, 6],
      [3, 1, 6],
      [4, 2, 6],
      [5, 2, 6],
      [6, 2, 6],
    ]);
    // The second scale starts from the upsampled first result, so its first loss is far below a fresh start's.
    const fresh = (await collect({ size: 96, steps: 1 })).find((e) => e.type === 'step')!;
    expect(steps[3]!.totalLoss).toBeLessThan(fresh.totalLoss);
    expect(doneOf(events)).toMatchObject({ image: { width: 96, height: 72 }, steps: 6 });
  });

  it('reuses cached style Grams across runs', async () => {
    const cache = new GramCache(4);
    const features = vi.spyOn(vgg, 'features');
    await collect({ steps: 1 }, { gramCache: cache });
    const firstRunPasses = features.mock.calls.length;
    await collect({ steps: 1 }, { gramCache: cache });
    expect(features.mock.calls.length - firstRunPasses).toBe(firstRunPasses - 1);
    expect(cache.size).toBe(1);
    features.mockRestore();
    cache.clear();
  });

  it('runs with a Gram cache that keeps nothing (capacity 0), leaving no tensor behind', async () => {
    const cache = new GramCache(0);
    const baseline = tf.memory().numTensors;
    const events = await collect({ steps: 2 }, { gramCache: cache });
    expect(doneOf(events).steps).toBe(2);
    expect(cache.size).toBe(0);
    expect(tf.memory().numTensors).toBe(baseline);
  });

  it('starts from a given image, and with Adam', async () => {
    const fromImage = await collect({ init: 'image', initImage: scream, steps: 2 });
    const fromContent = await collect({ steps: 2 });
    const firstLoss = (events: TransferEvent[]) => events.find((e) => e.type === 'step')!.totalLoss;
    expect(firstLoss(fromImage)).not.toBe(firstLoss(fromContent));
    const adam = (await collect({ optimizer: 'adam', steps: 8 })).filter((e) => e.type === 'step');
    expect(adam.at(-1)!.totalLoss).toBeLessThan(adam[0]!.totalLoss);
  });

  it.each([
    ['not an image', { styles: [{ image: new TextEncoder().encode('<html>not an image</html>') }] }, 'styles[0].image'],
    ['a truncated image', { content: new Uint8Array(40) }, 'content'],
    ['a sliver', { content: 'sliver' as unknown as Uint8Array }, 'content'],
  ])('refuses %s before any tensor work', async (_, params, field) => {
    const resolved = { ...params } as Partial<TransferParams>;
    if ((resolved.content as unknown) === 'sliver') {
      resolved.content = await sharp({ create: { width: 600, height: 8, channels: 3, background: '#888' } })
        .png()
        .toBuffer();
    }
    const baseline = tf.memory().numTensors;
    const error = await collect(resolved).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(EngineInputError);
    expect((error as EngineInputError).field).toBe(field);
    expect(tf.memory().numTensors).toBe(baseline);
  });
});
