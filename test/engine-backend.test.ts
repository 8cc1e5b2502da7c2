// Backend choice in real worker threads: what auto picks here and why, forcing one, and wasm threads actually
// applying (wasm-threads.ts starts the threaded module itself; this fails if that stops working).
import { createRequire } from 'node:module';
import os from 'node:os';
import { describe, expect, it } from 'vitest';
import {
  BackendUnavailableError,
  Engine,
  parseBackendChoice,
  type StepEvent,
  type TransferEvent,
} from '../src/engine/index.js';
import { VGG19_UINT8, contentImage, readShared, styleImage } from './helpers/shared.js';

async function firstSteps(engine: Engine): Promise<StepEvent[]> {
  const params = {
    content: await readShared(contentImage('hoovertowernight.jpg')),
    styles: [{ image: await readShared(styleImage('shipwreck.jpg')) }],
    size: 40,
    steps: 3,
    previewEvery: 0,
  };
  const events: TransferEvent[] = [];
  for await (const event of engine.run({ kind: 'GATYS', params: params })) events.push(event);
  return events.filter((e): e is StepEvent => e.type === 'step');
}

async function withEngine<T>(
  options: Parameters<typeof Engine.start>[0],
  use: (engine: Engine) => T | Promise<T>,
): Promise<T> {
  const engine = await Engine.start({ weightsDir: VGG19_UINT8, allowDownload: false, ...options });
  try {
    return await use(engine);
  } finally {
    await engine.close();
  }
}

describe('backend selection', () => {
  it('auto picks the best backend that loads and says why the others were skipped', async () => {
    const info = await withEngine({}, (engine) => engine.info());
    expect(['tensorflow-gpu', 'tensorflow', 'wasm', 'cpu']).toContain(info.backend);
    expect(info.tfjsVersion).toBe('4.22.0');
    for (const skipped of info.skipped) expect(skipped.reason.length).toBeGreaterThan(0);
    if (info.backend === 'wasm') {
      // Native TensorFlow cannot install on these machines: both must be reported as skipped, with the reason.
      expect(info.skipped.map((s) => s.backend)).toEqual(['tensorflow-gpu', 'tensorflow']);
      expect(info.simd).toBe(true);
    }
  });

  it('runs wasm with the threads asked for, giving the same losses as one thread and as the cpu backend', async () => {
    const threads = Math.min(2, os.availableParallelism());
    const [threaded, single, cpu] = await Promise.all([
      withEngine({ backend: 'wasm', threads }, async (e) => [e.info(), await firstSteps(e)] as const),
      withEngine({ backend: 'wasm', threads: 1 }, async (e) => [e.info(), await firstSteps(e)] as const),
      withEngine({ backend: 'cpu' }, async (e) => [e.info(), await firstSteps(e)] as const),
    ]);
    expect(threaded[0]).toMatchObject({ backend: 'wasm', threads });
    expect(single[0]).toMatchObject({ backend: 'wasm', threads: 1 });
    expect(cpu[0]).toMatchObject({ backend: 'cpu', skipped: [] });
    for (const other of [single[1], cpu[1]]) {
      threaded[1].forEach((step, i) =>
        expect(Math.abs(step.totalLoss - other[i]!.totalLoss) / other[i]!.totalLoss).toBeLessThan(1e-3),
      );
    }
  });

  const nativeInstalled = (() => {
    try {
      createRequire(import.meta.url).resolve('@tensorflow/tfjs-node');
      return true;
    } catch {
      return false;
    }
  })();

  it.skipIf(nativeInstalled)('fails clearly when a forced backend cannot load, instead of falling back', async () => {
    const error = await Engine.start({ backend: 'tensorflow' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BackendUnavailableError);
    expect((error as Error).message).toContain('tensorflow');
  });

  it('names the valid choices for an unknown GRAMIAN_BACKEND', () => {
    expect(() => parseBackendChoice('webgpu')).toThrow(/auto, tensorflow-gpu, tensorflow, wasm, cpu/);
    expect(parseBackendChoice(undefined)).toBe('auto');
  });
});
