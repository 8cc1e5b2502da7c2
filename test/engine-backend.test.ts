// Backend choice in real worker threads: what auto picks here and why, forcing one, and wasm threads actually
// applying (wasm-threads.ts starts the threaded module itself; this fails if that stops working). WebGPU itself is
// tested in test/engine-webgpu.test.ts; here only its place in the auto chain.
import { createRequire } from 'node:module';
import os from 'node:os';
import { describe, expect, it } from 'vitest';
import {
  BackendUnavailableError,
  Engine,
  type GpuAdapter,
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

/** WebGPU forced: its adapter, or why it cannot load here (no Vulkan loader or driver). */
async function forcedWebgpu(): Promise<{ adapter?: GpuAdapter; failure?: string }> {
  try {
    return { adapter: (await withEngine({ backend: 'webgpu' }, (engine) => engine.info())).adapter! };
  } catch (error) {
    return { failure: (error as Error).message };
  }
}

const SOFTWARE_ADAPTER = /llvmpipe|lavapipe|swiftshader|softpipe/i;

describe('backend selection', () => {
  it('auto picks the best backend that loads and says why the others were skipped', async () => {
    const info = await withEngine({}, (engine) => engine.info());
    expect(['tensorflow-gpu', 'webgpu', 'tensorflow', 'wasm', 'cpu']).toContain(info.backend);
    expect(info.tfjsVersion).toBe('4.22.0');
    for (const skipped of info.skipped) expect(skipped.reason.length).toBeGreaterThan(0);
    // auto never settles for a software adapter: it is slower than wasm (checked here by the adapter's own words).
    if (info.backend === 'webgpu') {
      expect(info.adapter!.architecture).not.toBe('software');
      expect(info.adapter!.description).not.toMatch(SOFTWARE_ADAPTER);
    }
    if (info.backend === 'wasm') {
      // Native TensorFlow cannot install on these machines, and WebGPU has only a software adapter (Mesa's llvmpipe,
      // which CI installs) or none: all three are reported as skipped, with the reason.
      expect(info.skipped.map((s) => s.backend)).toEqual(['tensorflow-gpu', 'webgpu', 'tensorflow']);
      expect(info.simd).toBe(true);
      const webgpuReason = info.skipped[1]!.reason;
      const forced = await forcedWebgpu();
      if (forced.adapter) {
        // Forced, WebGPU loads here: auto skipped it only because the adapter is software, and says which.
        expect(forced.adapter.software).toBe(true);
        expect(webgpuReason).toContain(`only a software adapter (${forced.adapter.description})`);
        expect(webgpuReason).toContain('GRAMIAN_BACKEND=webgpu');
      } else {
        // No adapter at all: allowed on a developer's machine, not in CI (.ci/run installs Mesa's Vulkan driver).
        expect(process.env.GRAMIAN_REQUIRE_WEBGPU, `no WebGPU adapter: ${forced.failure}`).not.toBe('1');
        expect(forced.failure).toContain(webgpuReason);
      }
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
    expect(() => parseBackendChoice('vulkan')).toThrow(/auto, tensorflow-gpu, webgpu, tensorflow, wasm, cpu/);
    expect(parseBackendChoice('webgpu')).toBe('webgpu');
    expect(parseBackendChoice(undefined)).toBe('auto');
  });
});
