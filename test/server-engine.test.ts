// The engine query while the engine is busy: backend facts come from the main thread, so the web page's catalogue
// query (engine, style models) is answered at once, not after the step the worker is computing.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Engine } from '../src/engine/index.js';
import {
  CANCEL_RUN,
  START_TRANSFER,
  UPLOAD_STYLE,
  gql,
  gqlUpload,
  startTestServer,
  until,
  wsClient,
  type TestServer,
} from './helpers/server.js';
import { contentImage, readShared, styleImage } from './helpers/shared.js';

let server: TestServer;

beforeAll(async () => {
  server = await startTestServer();
});

afterAll(async () => {
  await server.stop();
});

const CATALOGUE = /* GraphQL */ `
  {
    engine {
      backend
      threads
      workers
      maxOutputPixels
      running
    }
    styleModels {
      name
    }
  }
`;

describe('engine query', () => {
  it('answers while a step runs, before a question asked of the busy worker itself', async () => {
    const style = await gqlUpload(
      server.url,
      UPLOAD_STYLE,
      { input: { name: 'Scream', image: null } },
      {
        'input.image': { bytes: await readShared(styleImage('the_scream.jpg')) },
      },
    );
    const started = await gqlUpload(
      server.url,
      START_TRANSFER,
      {
        input: {
          content: null,
          styles: [{ styleId: style.data!.uploadStyle.id }],
          params: { size: 256, steps: 20, previewEvery: 0 },
        },
      },
      { 'input.content': { bytes: await readShared(contentImage('golden_gate.jpg')) } },
    );
    const runId = started.data!.startTransfer.id as string;
    const client = wsClient(server.url);
    // The first step is reported: the worker is now inside a later one, for seconds at this size.
    await new Promise<void>((resolve, reject) => {
      const stop = client.subscribe(
        { query: `subscription ($runId: ID!) { runEvents(runId: $runId) { __typename } }`, variables: { runId } },
        {
          next: (result) => {
            if ((result.data?.runEvents as { __typename: string } | undefined)?.__typename === 'RunStepAdded') {
              stop();
              resolve();
            }
          },
          error: reject,
          complete: () => reject(new Error('the run ended before its first step was reported')),
        },
      );
    });
    const order: string[] = [];
    // Asked of the worker itself: answered only once the step it is computing ends.
    const workerAnswer = (server.services.engine as Engine).stats().then(() => order.push('worker'));
    const catalogue = gql(server.url, CATALOGUE).then((answer) => {
      order.push('engine query');
      return answer;
    });
    const answer = await catalogue;
    await workerAnswer;
    expect(order).toEqual(['engine query', 'worker']);
    expect(answer.errors).toBeUndefined();
    expect(answer.data!.engine).toMatchObject({ workers: 1, running: 1 });
    expect(answer.data!.styleModels.length).toBeGreaterThan(0);
    await gql(server.url, CANCEL_RUN, { id: runId });
    await client.dispose();
  });
});

// The server on WebGPU, forced onto this machine's software adapter (Mesa's llvmpipe; see test/engine-webgpu.test.ts
// for the parity tests): the engine query reports the adapter and its limits, and a run through GraphQL ends DONE.
// Skipped with a warning where no adapter is found, except in CI (.ci/run sets GRAMIAN_REQUIRE_WEBGPU=1).
describe('engine query on WebGPU', () => {
  const ADAPTER = /* GraphQL */ `
    {
      engine {
        backend
        gpu
        maxOutputPixels
        maxFastOutputPixels
        adapter {
          vendor
          architecture
          description
          software
          limits {
            maxBufferSize
            maxStorageBufferBindingSize
          }
        }
      }
    }
  `;

  it('reports no adapter on wasm', async () => {
    const answer = await gql(server.url, ADAPTER);
    expect(answer.errors).toBeUndefined();
    expect(answer.data!.engine.backend).not.toBe('webgpu');
    expect(answer.data!.engine.adapter).toBeNull();
  });

  it('reports the software adapter and its limits, and runs a transfer on it', async (context) => {
    let gpuServer: TestServer;
    try {
      gpuServer = await startTestServer({ GRAMIAN_BACKEND: 'webgpu' });
    } catch (error) {
      if (process.env.GRAMIAN_REQUIRE_WEBGPU === '1' || !/no WebGPU adapter/.test(String(error))) throw error;
      console.warn(`engine query on WebGPU: SKIPPED, ${String(error)}`);
      return context.skip();
    }
    try {
      const answer = await gql(gpuServer.url, ADAPTER);
      expect(answer.errors).toBeUndefined();
      const engine = answer.data!.engine;
      expect(engine).toMatchObject({ backend: 'webgpu', gpu: false });
      expect(engine.adapter).toMatchObject({ vendor: 'mesa', architecture: 'software', software: true });
      expect(engine.adapter.description).toMatch(/^llvmpipe/);
      const binding = Math.min(engine.adapter.limits.maxBufferSize, engine.adapter.limits.maxStorageBufferBindingSize);
      // The size limits come from the adapter's largest binding: a Gatys step needs 256 bytes per pixel in one tensor.
      expect(engine.maxOutputPixels).toBeLessThanOrEqual(binding / 256);
      expect(engine.maxOutputPixels).toBeGreaterThan(binding / 256 / 2);
      expect(engine.maxFastOutputPixels).toBeGreaterThan(engine.maxOutputPixels);

      const style = await gqlUpload(
        gpuServer.url,
        UPLOAD_STYLE,
        { input: { name: 'Starry night', image: null } },
        { 'input.image': { bytes: await readShared(styleImage('starry_night.jpg')) } },
      );
      const started = await gqlUpload(
        gpuServer.url,
        START_TRANSFER,
        {
          input: {
            content: null,
            styles: [{ styleId: style.data!.uploadStyle.id }],
            params: { size: 32, steps: 3, previewEvery: 0 },
          },
        },
        { 'input.content': { bytes: await readShared(contentImage('hoovertowernight.jpg')) } },
      );
      expect(started.data!.startTransfer.__typename, JSON.stringify(started)).toBe('Run');
      const id = started.data!.startTransfer.id as string;
      const run = await until(
        async () =>
          (await gql(gpuServer.url, `query ($id: ID!) { run(id: $id) { status lastStep error { code } } }`, { id }))
            .data!.run,
        (r) => !['QUEUED', 'RUNNING'].includes(r.status),
        'the WebGPU run to finish',
      );
      expect(run).toMatchObject({ status: 'SUCCEEDED', lastStep: 3, error: null });
    } finally {
      await gpuServer.stop();
    }
  });
});
