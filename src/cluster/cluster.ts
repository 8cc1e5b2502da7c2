// A cluster node's connections and parts: Redis for jobs (BullMQ), events (pub/sub, with a connection of its own to
// subscribe on) and the engine directory. What each role builds on them is decided in src/services.ts.
import { randomUUID } from 'node:crypto';
import os from 'node:os';
import type { Redis } from 'ioredis';
import type { Config } from '../config.js';
import { createTopics, type Topics } from '../domain/topics.js';
import { EngineDirectory } from './engine-directory.js';
import { prefixedRedisEventTarget } from './event-target.js';
import { connectRedis, redisReady, type Log } from './redis.js';
import { RunQueue } from './run-queue.js';

export interface Cluster {
  /** This process, as workers announce themselves and logs name it. */
  nodeId: string;
  prefix: string;
  topics: Topics;
  queue: RunQueue;
  directory: EngineDirectory;
  /** Commands that must not hang while Redis is away (API requests, the engine directory). */
  commands: Redis;
  /** BullMQ's worker connection (blocking commands wait out an outage). */
  jobs: Redis;
  /** Whether Redis answers now (for /ready). */
  redisUp(): boolean;
  /** Runs `listener` each time Redis comes back after an outage (not on the first connect). */
  onReconnect(listener: () => void): void;
  close(): Promise<void>;
}

export async function openCluster(config: Config & { redisUrl: string }, log: Log): Promise<Cluster> {
  const nodeId = `${os.hostname()}-${process.pid}-${randomUUID().slice(0, 8)}`;
  const prefix = config.redisPrefix;
  const commands = connectRedis(config.redisUrl, 'commands', log, { failFast: true });
  const publisher = connectRedis(config.redisUrl, 'publish', log);
  const subscriber = connectRedis(config.redisUrl, 'subscribe', log);
  const jobs = connectRedis(config.redisUrl, 'jobs', log);
  const all = [commands, publisher, subscriber, jobs];
  try {
    await Promise.all(all.map((redis) => redisReady(redis)));
    await checkEvictionPolicy(commands, log);
  } catch (error) {
    all.forEach((redis) => redis.disconnect());
    throw new Error(`REDIS_URL: ${(error as Error).message}`, { cause: error });
  }
  const topics = createTopics(prefixedRedisEventTarget(publisher, subscriber, prefix));
  const queue = new RunQueue(jobs, prefix);
  const listeners: (() => void)[] = [];
  let lost = false;
  commands.on('close', () => (lost = true));
  commands.on('ready', () => {
    if (!lost) return;
    lost = false;
    for (const listener of listeners) listener();
  });
  return {
    nodeId,
    prefix,
    topics,
    queue,
    directory: new EngineDirectory(commands, prefix),
    commands,
    jobs,
    redisUp: () => commands.status === 'ready',
    onReconnect: (listener) => listeners.push(listener),
    close: async () => {
      await queue.close().catch(() => {});
      await Promise.all(all.map((redis) => redis.quit().catch(() => redis.disconnect())));
    },
  };
}

/**
 * BullMQ needs Redis to keep its keys (maxmemory-policy noeviction): an evicting Redis silently loses jobs. Set it
 * when this process may; say so loudly when it may not (a managed Redis that refuses CONFIG).
 */
async function checkEvictionPolicy(redis: Redis, log: Log): Promise<void> {
  try {
    const [, policy] = (await redis.config('GET', 'maxmemory-policy')) as [string, string];
    if (policy === 'noeviction') return;
    await redis.config('SET', 'maxmemory-policy', 'noeviction');
    log(`redis: maxmemory-policy was ${policy}; set to noeviction, as BullMQ requires`);
  } catch (error) {
    log(`redis: WARNING could not check maxmemory-policy (${(error as Error).message}); BullMQ requires noeviction`);
  }
}
