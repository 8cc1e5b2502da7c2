// The cluster's queue across owners, on real PostgreSQL and Redis: runs admitted through ClusterRuns get their
// fair-queue round, every node reads the same positions from the database, and BullMQ holds the jobs in that same
// order (priority = round, then first in first out), so the order told is the order workers take them.
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClusterRuns } from '../src/cluster/cluster-runs.js';
import { RunQueue } from '../src/cluster/run-queue.js';
import { createTopics } from '../src/domain/topics.js';
import { openDatabase, type OpenDatabase } from '../src/storage/db.js';
import { createTestDatabase, RUN_POSTGRES, type TestDatabase } from './helpers/postgres.js';

const REDIS_URL = process.env.GRAMIAN_TEST_REDIS ?? 'redis://127.0.0.1:6379';

describe.skipIf(!RUN_POSTGRES)('the cluster queue across owners', () => {
  let database: TestDatabase;
  let opened: OpenDatabase;
  let redis: Redis;
  let queue: RunQueue;
  /** Two API nodes: the same database and queue, each its own ClusterRuns. */
  let nodeA: ClusterRuns;
  let nodeB: ClusterRuns;

  beforeAll(async () => {
    database = await createTestDatabase();
    opened = await openDatabase(database.url);
    redis = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
    queue = new RunQueue(redis, `gramian-test-${randomUUID().slice(0, 8)}`);
    const options = { db: opened.prisma, topics: createTopics(), queue, maxQueuedPerOwner: 10 };
    [nodeA, nodeB] = [new ClusterRuns(options), new ClusterRuns(options)];
    await opened.prisma.image.create({
      data: { id: 'a'.repeat(64), mime: 'image/png', width: 1, height: 1, bytes: 1 },
    });
  });

  afterAll(async () => {
    await queue?.queue.obliterate({ force: true }).catch(() => {});
    await queue?.close();
    redis?.disconnect();
    await opened?.close();
    await database?.drop();
  });

  const admit = (node: ClusterRuns, owner: string) =>
    node.admit({ owner, exempt: false }, () =>
      opened.prisma.run.create({
        data: { owner, status: 'QUEUED', engine: 'GATYS', params: {}, contentImageId: 'a'.repeat(64), totalSteps: 1 },
      }),
    );

  it("puts one owner's single run before another's many, on every node and in BullMQ's order", async () => {
    const x1 = await admit(nodeA, 'x');
    const x2 = await admit(nodeB, 'x');
    const x3 = await admit(nodeA, 'x');
    const y1 = await admit(nodeB, 'y');
    expect([x1, x2, x3, y1].map((r) => r.round)).toEqual([0, 1, 2, 0]);
    const expected = [x1.id, y1.id, x2.id, x3.id];
    for (const node of [nodeA, nodeB])
      expect(await Promise.all([x1, x2, x3, y1].map((r) => node.position(r.id)))).toEqual([1, 3, 4, 2]);
    // The order BullMQ hands jobs to workers: by priority, then first in first out.
    const jobs = await queue.queue.getJobs(['prioritized', 'wait'], 0, -1, true);
    const order = jobs.sort((a, b) => a.priority - b.priority || a.timestamp - b.timestamp).map((j) => j.id);
    expect(order).toEqual(expected);
    expect(order.length).toBe(new Set(order).size);
  });

  it('adding a queued run again (recovery after a lost Redis) makes no second job', async () => {
    const before = await queue.queue.count();
    await nodeA.recover();
    await nodeB.recover();
    expect(await queue.queue.count()).toBe(before);
  });

  it('a queued run canceled on one node leaves the queue for every node, and its job is gone', async () => {
    const [first] = await opened.prisma.run.findMany({ where: { status: 'QUEUED' }, orderBy: { queuedAt: 'asc' } });
    await nodeB.cancel(first!.id);
    expect(await nodeA.position(first!.id)).toBeNull();
    expect((await opened.prisma.run.findUniqueOrThrow({ where: { id: first!.id } })).status).toBe('CANCELED');
    expect(await queue.queue.getJob(first!.id)).toBeUndefined();
  });
});
