// A real cluster: 2 API nodes and 2 workers as separate processes on PostgreSQL, a Redis of the test's own and a
// shared image folder. A run started on node A and followed on node B; a worker killed with SIGKILL, another stopped
// with SIGTERM; a cancel from the other node; Redis restarted mid-run; two nodes migrating an empty database at once.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestCluster, type Node } from './helpers/cluster.js';
import { RUN_POSTGRES } from './helpers/postgres.js';
import {
  CANCEL_RUN,
  RUN_EVENTS,
  START_TRANSFER,
  UPLOAD_STYLE,
  gql,
  gqlUpload,
  subscribeAll,
  until,
  wsClient,
} from './helpers/server.js';
import { contentImage, readShared, styleImage } from './helpers/shared.js';

const RUN = /* GraphQL */ `
  query ($id: ID!) {
    run(id: $id) {
      status
      lastStep
      error {
        code
        message
      }
      steps {
        step
        totalLoss
      }
    }
  }
`;

interface RunState {
  status: string;
  lastStep: number;
  error: { code: string; message: string } | null;
  steps: { step: number; totalLoss: number }[];
}

/** The local PostgreSQL's version folder, where this process may restart it (root, Debian's pg_ctlcluster). */
const POSTGRES_VERSION = existsSync('/etc/postgresql') ? (readdirSync('/etc/postgresql')[0] ?? '') : '';
const CAN_RESTART_POSTGRES = POSTGRES_VERSION !== '' && process.getuid?.() === 0;

let cluster: TestCluster;
let apiA: Node;
let apiB: Node;
const workers: Node[] = [];
let styleId: string;
let contentImageId: string;

async function runState(api: Node, id: string): Promise<RunState> {
  const answer = await gql(api.url, RUN, { id });
  if (answer.errors) throw new Error(JSON.stringify(answer.errors));
  return answer.data!.run as RunState;
}

async function start(api: Node, steps: number, size = 48): Promise<string> {
  const answer = await gql(api.url, START_TRANSFER, {
    input: { contentImageId, styles: [{ styleId }], params: { size, steps, previewEvery: 0 } },
  });
  expect(answer.data?.startTransfer.__typename, JSON.stringify(answer)).toBe('Run');
  return answer.data!.startTransfer.id as string;
}

/** The worker that holds a run now (as its /metrics says), once one does. */
async function holder(): Promise<Node> {
  return until(
    async () => {
      for (const worker of workers.filter((w) => w.proc.exitCode === null && w.proc.signalCode === null))
        if ((await worker.held()) > 0) return worker;
      return undefined;
    },
    (worker) => worker !== undefined,
    'a worker to hold the run',
  ) as Promise<Node>;
}

function everyStepOnce(run: RunState, steps: number): void {
  expect(run.steps.map((s) => s.step)).toEqual(Array.from({ length: steps }, (_, i) => i + 1));
}

describe.skipIf(!RUN_POSTGRES)('a cluster of 2 API nodes and 2 workers', () => {
  beforeAll(async () => {
    cluster = await TestCluster.create({ CHECKPOINT_EVERY: '3', JOB_LOCK_MS: '3000', SHUTDOWN_TIMEOUT_MS: '20000' });
    // Both API nodes at once on the empty database: it is migrated once.
    [apiA, apiB] = await Promise.all([cluster.start('api'), cluster.start('api')]);
    workers.push(...(await Promise.all([cluster.start('worker'), cluster.start('worker')])));
    const style = await gqlUpload(
      apiA.url,
      UPLOAD_STYLE,
      { input: { name: 'Starry night', image: null } },
      { 'input.image': { bytes: await readShared(styleImage('starry_night.jpg')) } },
    );
    styleId = style.data!.uploadStyle.id as string;
    const first = await gqlUpload(
      apiA.url,
      START_TRANSFER,
      { input: { content: null, styles: [{ styleId }], params: { size: 32, steps: 1, previewEvery: 0 } } },
      { 'input.content': { bytes: await readShared(contentImage('hoovertowernight.jpg')) } },
    );
    const firstId = first.data!.startTransfer.id as string;
    await until(
      () => runState(apiB, firstId),
      (r) => r.status === 'SUCCEEDED',
      'the first run',
    );
    contentImageId = (await gql(apiA.url, `query ($id: ID!) { run(id: $id) { content { id } } }`, { id: firstId }))
      .data!.run.content.id as string;
  }, 240_000);

  afterAll(async () => {
    await cluster?.stop();
  });

  it('migrated the empty database once, with Prisma bookkeeping, though two nodes started on it together', async () => {
    const client = new pg.Client({ connectionString: cluster.database.url });
    await client.connect();
    try {
      const { rows } = await client.query<{ migration_name: string; finished: boolean }>(
        'SELECT migration_name, finished_at IS NOT NULL AS finished FROM _prisma_migrations',
      );
      const names = rows.map((r) => r.migration_name);
      expect(names.length).toBeGreaterThan(0);
      expect(new Set(names).size).toBe(names.length);
      expect(rows.every((r) => r.finished)).toBe(true);
    } finally {
      await client.end();
    }
  });

  it('a run started on node A and followed on node B: every step once, in order, then its end', async () => {
    const id = await start(apiA, 12);
    const client = wsClient(apiB.url);
    const results = await subscribeAll(client, RUN_EVENTS, { runId: id });
    await client.dispose();
    const events = results.map((r) => r.data!.runEvents as Record<string, any>);
    expect(events[0]!.__typename).toBe('RunSnapshot');
    const seen = (events[0]!.lastStep?.step as number | undefined) ?? 0;
    const steps = events.filter((e) => e.__typename === 'RunStepAdded').map((e) => e.step.step as number);
    expect(steps).toEqual(Array.from({ length: 12 - seen }, (_, i) => seen + i + 1));
    expect(events.at(-1)).toMatchObject({ __typename: 'RunEnded', status: 'SUCCEEDED' });
    everyStepOnce(await runState(apiA, id), 12);
  });

  it('SIGKILL of the worker holding a run: the other resumes it from its checkpoint, every step once', async () => {
    const id = await start(apiA, 24);
    const killed = await holder();
    await until(
      () => runState(apiB, id),
      (r) => r.lastStep >= 5,
      'five persisted steps (a checkpoint every 3)',
    );
    const before = await runState(apiB, id);
    await killed.kill('SIGKILL');
    const finished = await until(
      () => runState(apiB, id),
      (r) => !['QUEUED', 'RUNNING'].includes(r.status),
      'the run',
    );
    expect(finished).toMatchObject({ status: 'SUCCEEDED', error: null });
    everyStepOnce(finished, 24);
    // The steps up to a checkpoint are the killed worker's, kept as they were.
    for (const step of before.steps.slice(0, 3)) expect(finished.steps[step.step - 1]!.totalLoss).toBe(step.totalLoss);
    workers.splice(workers.indexOf(killed), 1, await cluster.start('worker'));
  }, 180_000);

  it('cancelRun on node B stops a run a worker is computing, and it is never run again', async () => {
    const id = await start(apiA, 400);
    await until(
      () => runState(apiA, id),
      (r) => r.lastStep >= 2,
      'two persisted steps',
    );
    const answer = await gql(apiB.url, CANCEL_RUN, { id });
    expect(answer.data!.cancelRun).toMatchObject({ __typename: 'Run', status: 'CANCELED' });
    const stopped = await runState(apiA, id);
    expect(stopped.status).toBe('CANCELED');
    expect(stopped.lastStep).toBeLessThan(400);
    // Nothing picks it up again: a later run goes through, and the canceled one is untouched.
    const next = await start(apiB, 2);
    await until(
      () => runState(apiA, next),
      (r) => r.status === 'SUCCEEDED',
      'the next run',
    );
    expect(await runState(apiA, id)).toEqual(stopped);
  }, 180_000);

  it('queue positions: the same on every node, and a change reaches a subscriber on the other node', async () => {
    // Both workers busy, two runs wait behind them.
    const busy = [await start(apiA, 400), await start(apiB, 400)];
    for (const id of busy)
      await until(
        () => runState(apiA, id),
        (r) => r.status === 'RUNNING',
        'a busy worker',
      );
    const [first, second] = [await start(apiA, 2), await start(apiB, 2)];
    const positionOn = async (api: Node, id: string) =>
      (await gql(api.url, `query ($id: ID!) { run(id: $id) { queuePosition } }`, { id })).data!.run.queuePosition;
    for (const api of [apiA, apiB])
      expect([await positionOn(api, first), await positionOn(api, second)]).toEqual([1, 2]);
    const client = wsClient(apiB.url);
    const positions: number[] = [];
    const movedUp = new Promise<number[]>((resolve, reject) => {
      const stop = client.subscribe(
        { query: RUN_EVENTS, variables: { runId: second } },
        {
          next: (result) => {
            const event = result.data?.runEvents as { __typename: string; queuePosition?: number } | undefined;
            if (event?.queuePosition == null) return;
            positions.push(event.queuePosition);
            if (event.__typename === 'RunStatusChanged' && event.queuePosition === 1) {
              stop();
              resolve(positions);
            }
          },
          error: reject,
          complete: () => reject(new Error('ended before it moved up')),
        },
      );
    });
    // Once the snapshot says 2, the run ahead of it is canceled on the other node.
    await until(
      () => positionOn(apiB, second),
      (p) => p === 2,
      'the second run queued',
    );
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect((await gql(apiA.url, CANCEL_RUN, { id: first })).data!.cancelRun.status).toBe('CANCELED');
    expect(await movedUp).toEqual([2, 1]);
    await client.dispose();
    for (const id of [second, ...busy]) await gql(apiB.url, CANCEL_RUN, { id });
  }, 180_000);

  it('SIGTERM of the worker holding a run hands it back: another worker finishes it, every step once', async () => {
    const id = await start(apiA, 24);
    const stopping = await holder();
    await until(
      () => runState(apiB, id),
      (r) => r.lastStep >= 4,
      'four persisted steps',
    );
    expect(await stopping.kill('SIGTERM')).toBe(0);
    const finished = await until(
      () => runState(apiB, id),
      (r) => !['QUEUED', 'RUNNING'].includes(r.status),
      'the run',
    );
    expect(finished).toMatchObject({ status: 'SUCCEEDED', error: null });
    everyStepOnce(finished, 24);
    workers.splice(workers.indexOf(stopping), 1, await cluster.start('worker'));
  }, 180_000);

  it('Redis restarted mid-run (losing its data): no process dies, the run and one queued after it finish', async () => {
    const running = await start(apiA, 24);
    await until(
      () => runState(apiA, running),
      (r) => r.lastStep >= 3,
      'three persisted steps',
    );
    const queued = await start(apiB, 3);
    await cluster.redis.stop();
    await new Promise((resolve) => setTimeout(resolve, 1000));
    await cluster.redis.restart();
    for (const id of [running, queued]) {
      const finished = await until(
        () => runState(apiB, id).catch(() => ({ status: 'UNKNOWN' }) as RunState),
        (r) => r.status === 'SUCCEEDED' || r.status === 'FAILED' || r.status === 'CANCELED',
        'the run after Redis came back',
      );
      expect(finished.status).toBe('SUCCEEDED');
    }
    everyStepOnce(await runState(apiA, running), 24);
    for (const node of cluster.nodes.filter((n) => !n.stopped))
      expect((await fetch(`${node.url}/health`)).status).toBe(200);
    expect(cluster.nodes.filter((n) => n.crashed).map((n) => n.log.join(''))).toEqual([]);
  }, 180_000);

  // The machine's own PostgreSQL, restarted for real (pg_ctlcluster, as .ci/run starts it): test files run one after
  // another, so no other test is using it meanwhile.
  it.skipIf(!CAN_RESTART_POSTGRES)(
    'PostgreSQL restarted mid-run: no process dies, the run finishes, every step once',
    async () => {
      const id = await start(apiA, 24);
      await until(
        () => runState(apiA, id),
        (r) => r.lastStep >= 4,
        'four persisted steps',
      );
      execFileSync('pg_ctlcluster', ['--skip-systemctl-redirect', POSTGRES_VERSION, 'main', 'restart']);
      const finished = await until(
        () => runState(apiB, id).catch(() => ({ status: 'UNKNOWN' }) as RunState),
        (r) => ['SUCCEEDED', 'FAILED', 'CANCELED'].includes(r.status),
        'the run after PostgreSQL came back',
      );
      expect(finished).toMatchObject({ status: 'SUCCEEDED', error: null });
      everyStepOnce(finished, 24);
      for (const node of cluster.nodes.filter((n) => !n.stopped))
        expect((await fetch(`${node.url}/health`)).status).toBe(200);
      expect(cluster.nodes.filter((n) => n.crashed).map((n) => n.log.join(''))).toEqual([]);
    },
    180_000,
  );
});
