// The engine as the server uses it: worker threads fed by a queue, events over a MessagePort, cancellation.
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  Engine,
  EngineCrashedError,
  EngineInputError,
  TransferAbortedError,
  TransferDivergedError,
  WeightsMissingError,
  type StartedEvent,
  type TransferEvent,
  type TransferParams,
} from '../src/engine/index.js';
import { VGG19_UINT8, contentImage, readShared, styleImage } from './helpers/shared.js';
import { drain } from './helpers/events.js';

let engine: Engine;
let small: TransferParams;

beforeAll(async () => {
  engine = await Engine.start({ weightsDir: VGG19_UINT8, allowDownload: false });
  small = {
    content: await readShared(contentImage('golden_gate.jpg')),
    styles: [{ image: await readShared(styleImage('the_scream.jpg')) }],
    size: 48,
    steps: 3,
    previewEvery: 0,
  };
});

afterAll(async () => {
  await engine.close();
});

describe('Engine', () => {
  it('delivers previews and the result as bytes from the worker', async () => {
    const events = await drain(engine.run({ kind: 'GATYS', params: { ...small, steps: 4, previewEvery: 2 } }));
    expect(events.map((e) => e.type)).toEqual(['started', 'step', 'step', 'preview', 'step', 'step', 'done']);
    const preview = events.find((e) => e.type === 'preview')!;
    expect(preview.image.bytes).toBeInstanceOf(Uint8Array);
    expect((await sharp(preview.image.bytes).metadata()).format).toBe('jpeg');
    const done = events.at(-1)!;
    expect(done.type === 'done' && (await sharp(done.image.bytes).metadata()).format).toBe('png');
    expect(engine.info().weights).toBe(VGG19_UINT8);
    // Scored at its end: both parts, finite.
    const quality = done.type === 'done' ? done.quality : undefined;
    expect(Number.isFinite(quality?.style) && Number.isFinite(quality?.content)).toBe(true);
  });

  it('keeps the main thread responsive while a step runs', async () => {
    let worstDelay = 0;
    let last = performance.now();
    const timer = setInterval(() => {
      const now = performance.now();
      worstDelay = Math.max(worstDelay, now - last - 20);
      last = now;
    }, 20);
    try {
      const events = await drain(engine.run({ kind: 'GATYS', params: { ...small, size: 128, steps: 3 } }));
      expect(events.filter((e) => e.type === 'step').every((e) => e.type === 'step' && e.ms > 100)).toBe(true);
    } finally {
      clearInterval(timer);
    }
    expect(worstDelay).toBeLessThan(100);
  });

  it('stops a running job within one step of the abort', async () => {
    const controller = new AbortController();
    let stepsAfterAbort = 0;
    const run = drain(
      engine.run({ kind: 'GATYS', params: { ...small, size: 96, steps: 200 } }, { signal: controller.signal }),
      (event) => {
        if (event.type !== 'step') return;
        if (controller.signal.aborted) stepsAfterAbort += 1;
        else if (event.step === 2) controller.abort();
      },
    );
    await expect(run).rejects.toBeInstanceOf(TransferAbortedError);
    expect(stepsAfterAbort).toBeLessThanOrEqual(1);
    expect(engine.info().running).toBe(0);
  });

  it('runs jobs in order, one per worker, and drops a cancelled queued job at once', async () => {
    const order: string[] = [];
    const record = (name: string) => (event: TransferEvent) => {
      if (event.type === 'started' || event.type === 'done') order.push(`${name}:${event.type}`);
    };
    const controller = new AbortController();
    const first = drain(engine.run({ kind: 'GATYS', params: { ...small, steps: 4 } }), record('first'));
    const dropped = drain(
      engine.run({ kind: 'GATYS', params: small }, { signal: controller.signal }),
      record('dropped'),
    );
    const second = drain(engine.run({ kind: 'GATYS', params: small }), record('second'));
    expect(engine.queued).toBe(2);
    controller.abort();
    await expect(dropped).rejects.toBeInstanceOf(TransferAbortedError);
    await Promise.all([first, second]);
    expect(order).toEqual(['first:started', 'first:done', 'second:started', 'second:done']);
  });

  it('refuses bad parameters before queueing and bad images from the worker, then keeps working', async () => {
    await expect(drain(engine.run({ kind: 'GATYS', params: { ...small, steps: 0 } }))).rejects.toMatchObject({
      field: 'steps',
    });
    expect(engine.queued).toBe(0);
    // The job's own options: whether to score it, and a fast job's reference painting (bytes of an image).
    await expect(
      drain(engine.run({ kind: 'GATYS', params: small, quality: 'yes' as unknown as boolean })),
    ).rejects.toMatchObject({ field: 'quality' });
    const model = { architecture: 'pytorch', format: 'ncnn', path: '/nowhere/mosaic-9.param' } as const;
    await expect(
      drain(engine.run({ kind: 'FAST', params: { model, content: small.content }, styleReference: new Uint8Array() })),
    ).rejects.toMatchObject({ field: 'styleReference' });
    const error = await drain(
      engine.run({ kind: 'GATYS', params: { ...small, content: new Uint8Array([0xff, 0xd8, 0xff, 0x00]) } }),
    ).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(EngineInputError);
    expect((error as EngineInputError).field).toBe('content');
    expect((await drain(engine.run({ kind: 'GATYS', params: small }))).at(-1)?.type).toBe('done');
  });

  it('runs an output larger than the backend holds in one pass coarse to fine, then in tiles', async (context) => {
    // Native TensorFlow has no 4 GiB heap: 1024 px is within its limit there, so this case does not apply (skipped,
    // and reported as skipped).
    if (engine.info().tfBackend === 'tensorflow') context.skip();
    const controller = new AbortController();
    const seen: TransferEvent[] = [];
    const error = await drain(
      engine.run({ kind: 'GATYS', params: { ...small, size: 1024, steps: 1 } }, { signal: controller.signal }),
      (event) => {
        seen.push(event);
        // The plan is what this checks: stop once it is announced rather than pay for a 1024 px run.
        if (event.type === 'started') controller.abort();
      },
    ).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TransferAbortedError);
    // golden_gate.jpg is 979×734: 1024×768 is past wasm's 768² pixels, 512×384 is not.
    expect(seen[0]).toMatchObject({ type: 'started', width: 1024, height: 768, scaleSizes: [512, 1024] });
    expect((seen[0] as StartedEvent).totalSteps).toBeGreaterThan(2);
  });

  it('reports a diverged optimisation as DIVERGED across the worker boundary, not as an input error', async () => {
    // L-BFGS with a huge step and style weight overflows float32 within a few steps.
    const error = await drain(
      engine.run({ kind: 'GATYS', params: { ...small, size: 32, steps: 30, learningRate: 1e4, styleWeight: 1e12 } }),
    ).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TransferDivergedError);
    expect(error).not.toBeInstanceOf(EngineInputError);
    expect((error as TransferDivergedError).code).toBe('DIVERGED');
    expect((error as TransferDivergedError).step).toBeGreaterThan(0);
    expect((error as Error).message).toMatch(/diverged at step \d+/);
  });

  it('rejects a question pending with a worker that dies, fails its job, and starts a fresh worker', async () => {
    let started!: () => void;
    const running = new Promise<void>((resolve) => (started = resolve));
    const job = drain(engine.run({ kind: 'GATYS', params: { ...small, size: 384, steps: 50 } }), (event) => {
      if (event.type === 'started') started();
    }).catch((e: unknown) => e);
    await running;
    // A question asked while the worker is busy in a step is answered only after it. Ask until one is seen to wait
    // (a question that slips into the pause between two events is answered at once), then end the worker.
    let stats: Promise<unknown>;
    for (;;) {
      const asked = engine.stats().catch((e: unknown) => e);
      const waited = new Promise((resolve) => setTimeout(() => resolve('waiting'), 500));
      if ((await Promise.race([asked, waited])) === 'waiting') {
        stats = asked;
        break;
      }
    }
    await engine.restartWorkers();
    expect(await stats).toBeInstanceOf(EngineCrashedError);
    expect(await job).toBeInstanceOf(EngineCrashedError);
    // The replacement answers, and runs the next job.
    expect(engine.info()).toMatchObject({ workers: 1, running: 0, queued: 0 });
    expect((await engine.stats()).numTensors).toBeGreaterThanOrEqual(0);
    expect((await drain(engine.run({ kind: 'GATYS', params: small }))).at(-1)?.type).toBe('done');
  });

  it('stops the job when the consumer stops reading', async () => {
    for await (const event of engine.run({ kind: 'GATYS', params: { ...small, steps: 100 } })) {
      if (event.type === 'step') break;
    }
    const events = await drain(engine.run({ kind: 'GATYS', params: small }));
    expect(events.at(-1)?.type).toBe('done');
  });

  it('ends a run whose scoring fails inside the backend without a score, then replaces the worker', async () => {
    const logs: string[] = [];
    // Workers read the fault when they start: only the first worker of this engine has it.
    process.env.GRAMIAN_FAULT_QUALITY = '1';
    let faulty: Engine;
    try {
      faulty = await Engine.start({ weightsDir: VGG19_UINT8, allowDownload: false, log: (m) => logs.push(m) });
    } finally {
      delete process.env.GRAMIAN_FAULT_QUALITY;
    }
    try {
      const first = (await drain(faulty.run({ kind: 'GATYS', params: small }))).at(-1)!;
      expect(first.type).toBe('done');
      expect(first.type === 'done' && first.quality).toBeUndefined();
      expect(logs.some((m) => /succeeded without a quality score: Out of memory/.test(m))).toBe(true);
      // Queued at once: it waits for the fresh worker (not the one that is ending), which scores it.
      const next = (await drain(faulty.run({ kind: 'GATYS', params: small }))).at(-1)!;
      expect(next.type === 'done' && Number.isFinite(next.quality?.content)).toBe(true);
      expect(logs.some((m) => /exited with code 1; starting a new worker/.test(m))).toBe(true);
      expect(faulty.info().workers).toBe(1);
    } finally {
      await faulty.close();
    }
  });

  it('fails with WEIGHTS_MISSING naming the command and folder if VGG19 is absent and downloads are off', async () => {
    const empty = await mkdtemp(path.join(os.tmpdir(), 'gramian-noweights-'));
    const offline = await Engine.start({ weightsDir: empty, allowDownload: false });
    try {
      const error = await drain(offline.run({ kind: 'GATYS', params: small })).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(WeightsMissingError);
      expect((error as Error).message).toContain('npx gramian weights');
      expect((error as Error).message).toContain(empty);
    } finally {
      await offline.close();
      await rm(empty, { recursive: true });
    }
  });
});
