// Connections to Redis for the cluster. BullMQ's workers and the event subscriber wait out an outage (their commands
// queue until Redis is back); the API's own commands fail fast instead, so a request gets a typed error rather than
// hanging. Connection errors are logged once per outage, never thrown: a lost Redis must not crash a process.
import { Redis } from 'ioredis';

export type Log = (message: string) => void;

export interface RedisOptions {
  /** Fail commands at once while disconnected (API requests) rather than queue them until Redis is back. */
  failFast?: boolean;
}

export function connectRedis(url: string, name: string, log: Log, options: RedisOptions = {}): Redis {
  const redis = new Redis(url, {
    connectionName: `gramian-${name}`,
    // BullMQ requires null (its blocking commands must wait out an outage, not fail after n retries).
    maxRetriesPerRequest: options.failFast ? 1 : null,
    enableOfflineQueue: !options.failFast,
    retryStrategy: (times) => Math.min(200 * times, 2000),
  });
  let down = false;
  redis.on('error', (error: Error) => {
    if (down) return;
    down = true;
    log(`redis (${name}): ${error.message}; reconnecting`);
  });
  redis.on('ready', () => {
    if (!down) return;
    down = false;
    log(`redis (${name}): connected again`);
  });
  return redis;
}

/** Resolves once the connection is ready (or rejects with why it is not, after `timeoutMs`). */
export async function redisReady(redis: Redis, timeoutMs = 10_000): Promise<void> {
  if (redis.status === 'ready') return;
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`Redis did not answer within ${timeoutMs} ms (${redis.options.host}:${redis.options.port})`));
    }, timeoutMs);
    const onReady = () => {
      cleanup();
      resolve();
    };
    const cleanup = () => {
      clearTimeout(timer);
      redis.off('ready', onReady);
    };
    redis.on('ready', onReady);
  });
}
