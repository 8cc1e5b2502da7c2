// The queue: runs start in order with their positions, cancelling a queued run takes it out at once, cancelling a
// running one stops it within one step; both end CANCELED with their steps kept.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CANCEL_RUN,
  RUN_EVENTS,
  START_TRANSFER,
  UPLOAD_STYLE,
  gql,
  gqlUpload,
  startTestServer,
  subscribeAll,
  until,
  wsClient,
  type TestServer,
} from './helpers/server.js';
import { contentImage, readShared, styleImage } from './helpers/shared.js';

let server: TestServer;
let styleId: string;
let contentImageId: string;

const RUN = `query ($id: ID!) { run(id: $id) { status queuePosition lastStep startedAt finishedAt steps { step } } }`;

beforeAll(async () => {
  server = await startTestServer();
  const upload = await gqlUpload(
    server.url,
    UPLOAD_STYLE,
    { input: { name: 'Wave', image: null } },
    { 'input.image': { bytes: await readShared(styleImage('shipwreck.jpg')) } },
  );
  styleId = upload.data!.uploadStyle.id;
  // The first run uploads the content; later runs reuse the stored image by id.
  const first = await gqlUpload(
    server.url,
    START_TRANSFER,
    { input: { content: null, styles: [{ styleId }], params: { size: 40, steps: 1, previewEvery: 0 } } },
    {
      'input.content': { bytes: await readShared(contentImage('hoovertowernight.jpg')) },
    },
  );
  const done = await subscribeAll(wsClient(server.url), RUN_EVENTS, { runId: first.data!.startTransfer.id });
  expect(done.at(-1)!.data!.runEvents.status).toBe('SUCCEEDED');
  const run = await gql(server.url, `query ($id: ID!) { run(id: $id) { content { id } } }`, {
    id: first.data!.startTransfer.id,
  });
  contentImageId = run.data!.run.content.id;
});

afterAll(async () => {
  await server.stop();
});

async function start(steps: number): Promise<{ id: string; queuePosition: number | null; status: string }> {
  const response = await gql(server.url, START_TRANSFER, {
    input: { contentImageId, styles: [{ styleId }], params: { size: 64, steps, previewEvery: 0 } },
  });
  expect(response.data?.startTransfer.__typename).toBe('Run');
  return response.data!.startTransfer;
}

describe('queue', () => {
  it("runs two transfers in order, reporting the second one's place, and feeds runsChanged", async () => {
    const client = wsClient(server.url);
    const changes: { status: string; queue: string[]; run: { id: string } }[] = [];
    const dashboard = new Promise<void>((resolve) => {
      client.subscribe<any>(
        { query: `subscription { runsChanged { status queue run { id } } }` },
        { next: (r) => changes.push(r.data!.runsChanged), error: () => resolve(), complete: () => resolve() },
      );
    });
    await new Promise((r) => setTimeout(r, 100));
    const first = await start(6);
    const second = await start(3);
    expect(second).toMatchObject({ status: 'QUEUED', queuePosition: 1 });
    const [firstEvents, secondEvents] = await Promise.all([
      subscribeAll(client, RUN_EVENTS, { runId: first.id }),
      subscribeAll(client, RUN_EVENTS, { runId: second.id }),
    ]);
    expect(firstEvents.at(-1)!.data!.runEvents.status).toBe('SUCCEEDED');
    expect(secondEvents.at(-1)!.data!.runEvents.status).toBe('SUCCEEDED');
    // The second run waited in first place, then started after the first finished.
    const secondStatuses = secondEvents
      .map((r) => r.data!.runEvents)
      .filter((e) => e.__typename === 'RunStatusChanged' || e.__typename === 'RunSnapshot');
    expect(secondStatuses[0]).toMatchObject({ status: 'QUEUED', queuePosition: 1 });
    const a = await gql(server.url, RUN, { id: first.id });
    const b = await gql(server.url, RUN, { id: second.id });
    expect(new Date(b.data!.run.startedAt).getTime()).toBeGreaterThanOrEqual(
      new Date(a.data!.run.finishedAt).getTime(),
    );
    const order = changes
      .filter((c) => c.run.id === first.id || c.run.id === second.id)
      .map((c) => `${c.run.id === first.id ? 'first' : 'second'}:${c.status}`);
    expect(order).toEqual([
      'first:QUEUED',
      'first:RUNNING',
      'second:QUEUED',
      'first:SUCCEEDED',
      'second:RUNNING',
      'second:SUCCEEDED',
    ]);
    expect(changes.find((c) => c.run.id === second.id && c.status === 'QUEUED')!.queue).toEqual([second.id]);
    await client.dispose();
    await dashboard;
  });

  it('takes a queued run out at once and stops a running one within one step, keeping its steps', async () => {
    const running = await start(200);
    const queued = await start(3);
    // Wait for the running one to make progress.
    const client = wsClient(server.url);
    let seen = 0;
    const events = subscribeAll(client, RUN_EVENTS, { runId: running.id }, (r) => {
      if (r.data?.runEvents.__typename === 'RunStepAdded') seen = r.data.runEvents.step.step;
    });
    await until(
      () => seen,
      (step) => step >= 2,
      'two steps of the running run',
    );

    const cancelledQueued = await gql(server.url, CANCEL_RUN, { id: queued.id });
    expect(cancelledQueued.data!.cancelRun).toMatchObject({
      __typename: 'Run',
      status: 'CANCELED',
      lastStep: 0,
      steps: [],
    });

    const cancelledRunning = await gql(server.url, CANCEL_RUN, { id: running.id });
    const stoppedAt = cancelledRunning.data!.cancelRun.lastStep;
    expect(cancelledRunning.data!.cancelRun.status).toBe('CANCELED');
    expect(stoppedAt).toBeGreaterThanOrEqual(2);
    expect(stoppedAt).toBeLessThanOrEqual(seen + 1);
    expect(cancelledRunning.data!.cancelRun.steps.map((s: { step: number }) => s.step)).toEqual(
      Array.from({ length: stoppedAt }, (_, i) => i + 1),
    );
    const ended = await events;
    expect(ended.at(-1)!.data!.runEvents).toMatchObject({ __typename: 'RunEnded', status: 'CANCELED' });
    await client.dispose();

    // Cancelling again is a conflict, an unknown run is not found.
    const again = await gql(server.url, CANCEL_RUN, { id: running.id });
    expect(again.data!.cancelRun).toMatchObject({ __typename: 'ConflictError', code: 'CONFLICT' });
    const unknown = await gql(server.url, CANCEL_RUN, { id: 'UnVuOm5vcGU=' });
    expect(unknown.data!.cancelRun).toMatchObject({ __typename: 'NotFoundError', code: 'NOT_FOUND' });
  });
});
