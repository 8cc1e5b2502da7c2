// The engine query while the engine is busy: backend facts come from the main thread, so the web page's catalogue
// query (engine, style models) is answered at once, not after the step the worker is computing.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CANCEL_RUN,
  START_TRANSFER,
  UPLOAD_STYLE,
  gql,
  gqlUpload,
  startTestServer,
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
    const workerAnswer = server.services.engine.stats().then(() => order.push('worker'));
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
