// The quality score on the real VGG19 (wasm): its fixed points (the content scores 0 on content and 1 on style, the
// style image 0 on style), its ranking of an over- and an under-stylised run of the same pair, its size cap, its
// input checks, and its tensor hygiene.
import * as tf from '@tensorflow/tfjs';
import sharp from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../src/engine/runtime/index.js';
import { type DoneEvent, EngineInputError, QUALITY_DEFAULTS, type TransferParams } from '../src/engine/index.js';
import { gatysTransfer, loadVgg19, scoreQuality, type Vgg19 } from '../src/engine/gatys/index.js';
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

/** The result of a short Gatys run of tubingen × starry night at 64 px. */
async function runResult(params: Partial<TransferParams>): Promise<Uint8Array> {
  const events = await drain(
    gatysTransfer(
      { content, styles: [{ image: starryNight }], size: 64, steps: 20, previewEvery: 0, lbfgsHistory: 5, ...params },
      { vgg },
    ),
  );
  return events.find((e): e is DoneEvent => e.type === 'done')!.image.bytes;
}

async function resized(bytes: Uint8Array, longest: number, format: 'png' | 'jpeg' = 'png'): Promise<Uint8Array> {
  const image = sharp(bytes).resize({ width: longest, height: longest, fit: 'inside' });
  return new Uint8Array(await (format === 'png' ? image.png() : image.jpeg({ quality: 75 })).toBuffer());
}

describe('scoreQuality', () => {
  it('scores the content image itself 0 on content and 1 on style; tensors return to baseline', async () => {
    const baseline = tf.memory().numTensors;
    const score = await scoreQuality(vgg, { result: content, content, styles: [{ image: starryNight }] });
    expect(tf.memory().numTensors).toBe(baseline);
    // Measured: exactly { style: 1, content: 0 } (the same pixels through the same passes).
    expect(score.content).toBeLessThan(1e-6);
    expect(score.style).toBeCloseTo(1, 6);
  });

  it('scores the style image near 0 on style, also from a smaller re-encoded copy', async () => {
    const baseline = tf.memory().numTensors;
    const itself = await scoreQuality(vgg, { result: starryNight, content, styles: [{ image: starryNight }] });
    // A JPEG of it at 200 px: the result is measured at 200 px, the style decoded at 200 px from the original.
    const copy = await scoreQuality(vgg, {
      result: await resized(starryNight, 200, 'jpeg'),
      content,
      styles: [{ image: starryNight }],
    });
    expect(tf.memory().numTensors).toBe(baseline);
    // Measured: the style itself 0 exactly, the JPEG copy 0.020; content 2.33 and 2.30.
    expect(itself.style).toBeLessThan(0.05);
    expect(copy.style).toBeLessThan(0.05);
    // The style image is far from the content's features: well above the photo's own 0.
    expect(itself.content).toBeGreaterThan(0.3);
  });

  it('blends several styles by weight: a style at weight 0 does not count', async () => {
    const alone = await scoreQuality(vgg, { result: starryNight, content, styles: [{ image: starryNight }] });
    const withZero = await scoreQuality(vgg, {
      result: starryNight,
      content,
      styles: [{ image: starryNight }, { image: scream, weight: 0 }],
    });
    const blended = await scoreQuality(vgg, {
      result: starryNight,
      content,
      styles: [{ image: starryNight }, { image: scream }],
    });
    // Measured: 0, 0 and 0.57.
    expect(withZero.style).toBe(alone.style);
    expect(blended.style).toBeGreaterThan(alone.style);
  });

  it('ranks an over-stylised run below an under-stylised one on style, the other way round on content', async () => {
    const baseline = tf.memory().numTensors;
    const over = await runResult({ styleWeight: 1e4, contentWeight: 1 });
    const under = await runResult({ styleWeight: 1, contentWeight: 100 });
    const styles = [{ image: starryNight }];
    const overScore = await scoreQuality(vgg, { result: over, content, styles });
    const underScore = await scoreQuality(vgg, { result: under, content, styles });
    // A large result is measured on a downscaled copy: 4× upscales of the runs, measured at 64 px, rank the same way
    // and score close to the runs (the up-and-down resampling blurs a little: measured 0.10 vs 0.054 on style, 0.90
    // vs 0.98 on content).
    const overUp = await scoreQuality(vgg, { result: await resized(over, 256), content, styles, size: 64 });
    const underUp = await scoreQuality(vgg, { result: await resized(under, 256), content, styles, size: 64 });
    expect(tf.memory().numTensors).toBe(baseline);
    console.log('over', overScore, 'under', underScore, 'upscaled 256, measured at 64:', overUp, underUp);
    expect(overScore.style).toBeLessThan(underScore.style);
    expect(underScore.content).toBeLessThan(overScore.content);
    // Measured: over { style 0.054, content 0.98 }, under { style 0.91, content 0.0019 }.
    expect(overScore.style).toBeLessThan(0.2);
    expect(underScore.style).toBeGreaterThan(0.6);
    expect(underScore.style).toBeLessThan(1);
    expect(overScore.content).toBeGreaterThan(0.6);
    expect(underScore.content).toBeLessThan(0.02);
    expect(overUp.style).toBeLessThan(underUp.style);
    expect(underUp.content).toBeLessThan(overUp.content);
    expect(overUp.style).toBeLessThan(0.25);
    expect(Math.abs(overUp.content - overScore.content)).toBeLessThan(0.15 * overScore.content);
  });

  it('measures at min(size, the result’s longest side)', async () => {
    expect(QUALITY_DEFAULTS.size).toBe(256);
    const small = await scoreQuality(vgg, { result: content, content, styles: [{ image: starryNight }], size: 64 });
    expect(small.content).toBeLessThan(1e-6);
    expect(small.style).toBeCloseTo(1, 6);
  });

  it('refuses bad input with EngineInputError before any tensor work', async () => {
    const baseline = tf.memory().numTensors;
    const styles = [{ image: starryNight }];
    const cases: [Parameters<typeof scoreQuality>[1], string][] = [
      [{ result: new Uint8Array(), content, styles }, 'result'],
      [{ result: content, content: new Uint8Array([1, 2, 3]), styles }, 'content'],
      [{ result: content, content, styles: [] }, 'styles'],
      [{ result: content, content, styles: [{ image: starryNight, weight: 0 }] }, 'styles'],
      [{ result: content, content, styles: [{ image: starryNight, weight: -1 }] }, 'styles[0].weight'],
      [{ result: content, content, styles, size: 8 }, 'size'],
      [{ result: content, content, styles, size: 20.5 }, 'size'],
    ];
    for (const [params, field] of cases) {
      const error = await scoreQuality(vgg, params).catch((e: unknown) => e);
      expect(error, field).toBeInstanceOf(EngineInputError);
      expect((error as EngineInputError).field).toBe(field);
    }
    // Too thin for relu5_1 at the measured size.
    const thin = new Uint8Array(
      await sharp({ create: { width: 200, height: 10, channels: 3, background: '#808080' } })
        .png()
        .toBuffer(),
    );
    const error = await scoreQuality(vgg, { result: thin, content, styles }).catch((e: unknown) => e);
    expect((error as EngineInputError).field).toBe('result');
    expect(tf.memory().numTensors).toBe(baseline);
  });
});
