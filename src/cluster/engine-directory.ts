// What the cluster's engines are: each worker publishes its engine's facts (backend, adapter, workers) under a key
// that expires unless renewed, so an API node, which loads no TensorFlow, can answer the `engine` query and bound
// output sizes by the workers that are alive.
import type { Redis } from 'ioredis';
import type { BackendLimits, EngineInfo } from '../engine/index.js';

/** How often a worker renews its entry, and how long an entry outlives its last renewal. */
const RENEW_MS = 5_000;
const TTL_MS = 15_000;

function keyPattern(prefix: string): string {
  return `${prefix}:engines:*`;
}

/** A worker's side: keeps its engine's entry alive until stopped. */
export class EngineAnnouncer {
  private timer?: NodeJS.Timeout;
  private readonly key: string;

  constructor(
    private readonly redis: Redis,
    prefix: string,
    nodeId: string,
    private readonly info: () => EngineInfo,
  ) {
    this.key = `${prefix}:engines:${nodeId}`;
  }

  start(): void {
    const renew = () =>
      void this.redis.set(this.key, JSON.stringify(this.info()), 'PX', TTL_MS).catch(() => {
        /* Redis is down: the entry lapses, and comes back with the next renewal after it */
      });
    renew();
    this.timer = setInterval(renew, RENEW_MS);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.redis.del(this.key).catch(() => 0);
  }
}

/** An API node's side: the engines alive now. */
export class EngineDirectory {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
  ) {}

  async engines(): Promise<EngineInfo[]> {
    const keys: string[] = [];
    let cursor = '0';
    do {
      const [next, batch] = await this.redis.scan(cursor, 'MATCH', keyPattern(this.prefix), 'COUNT', 100);
      cursor = next;
      keys.push(...batch);
    } while (cursor !== '0');
    if (keys.length === 0) return [];
    const values = await this.redis.mget(keys);
    return values.filter((v): v is string => v !== null).map((v) => JSON.parse(v) as EngineInfo);
  }
}

/** The limits of a backend none of whose engines is known: wasm's, the smallest there is. */
export const UNKNOWN_ENGINE_LIMITS: BackendLimits = { tfBackend: 'wasm' };

/**
 * The engine as an API node reports it: the first live worker's facts with every live worker's engine workers
 * counted, or none (backend `none`, no workers) while no worker is up.
 */
export function clusterEngineInfo(engines: EngineInfo[]): EngineInfo {
  const first = engines[0];
  const workers = engines.reduce((sum, e) => sum + e.workers, 0);
  if (!first) {
    return {
      backend: 'none',
      tfBackend: 'none',
      gpu: false,
      tfjsVersion: '',
      threads: 0,
      simd: false,
      skipped: [],
      workers: 0,
      weights: null,
      queued: 0,
      running: 0,
    } as unknown as EngineInfo;
  }
  return { ...first, workers };
}
