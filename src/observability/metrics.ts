// Prometheus metrics of a node, in the text exposition format (no client library: five metrics do not need one):
// queue depth and runs by status (read from the database when scraped), step time per backend (a histogram fed by
// the run executor), events published and subscribers open (counted on the topics).
import type { Topics } from '../domain/topics.js';
import type { Db } from '../storage/db.js';

/** Step time buckets in seconds: a GPU step is tens of ms, a 768² wasm step tens of seconds. */
const STEP_BUCKETS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

interface Histogram {
  counts: number[];
  sum: number;
  count: number;
}

export class Metrics {
  private readonly steps = new Map<string, Histogram>();
  private eventsPublished = 0;
  private subscribers = 0;

  observeStep(backend: string, ms: number): void {
    let histogram = this.steps.get(backend);
    if (!histogram) this.steps.set(backend, (histogram = { counts: STEP_BUCKETS.map(() => 0), sum: 0, count: 0 }));
    const seconds = ms / 1000;
    STEP_BUCKETS.forEach((bound, i) => {
      if (seconds <= bound) histogram.counts[i]! += 1;
    });
    histogram.sum += seconds;
    histogram.count += 1;
  }

  /** The same topics, counting what is published and the subscriptions open. */
  instrument(topics: Topics): Topics {
    const count = {
      published: () => (this.eventsPublished += 1),
      opened: () => (this.subscribers += 1),
      closed: () => (this.subscribers -= 1),
    };
    // Untyped inside, typed outside: the wrappers take and return exactly what the topics do.
    const publish = topics.publish.bind(topics) as unknown as (...args: unknown[]) => void;
    const subscribe = topics.subscribe.bind(topics) as unknown as (...args: unknown[]) => AsyncIterable<unknown>;
    return {
      publish: (...args: unknown[]) => {
        count.published();
        publish(...args);
      },
      subscribe: ((...args: unknown[]) =>
        counted(subscribe(...args), count.opened, count.closed)) as unknown as Topics['subscribe'],
    };
  }

  /** `held`: runs this node's worker holds now (workers only). */
  async render(db: Db, role: string, held?: number): Promise<string> {
    const byStatus = await db.run.groupBy({ by: ['status'], _count: { _all: true } });
    const statuses = ['QUEUED', 'RUNNING', 'SUCCEEDED', 'FAILED', 'CANCELED'];
    const lines = [
      '# HELP gramian_queue_depth Runs waiting to start.',
      '# TYPE gramian_queue_depth gauge',
      `gramian_queue_depth ${byStatus.find((s) => s.status === 'QUEUED')?._count._all ?? 0}`,
      '# HELP gramian_runs Runs by status.',
      '# TYPE gramian_runs gauge',
      ...statuses.map(
        (status) => `gramian_runs{status="${status}"} ${byStatus.find((s) => s.status === status)?._count._all ?? 0}`,
      ),
      '# HELP gramian_step_seconds Time of one optimisation step (or fast pass) computed on this node, by backend.',
      '# TYPE gramian_step_seconds histogram',
    ];
    for (const [backend, h] of this.steps) {
      STEP_BUCKETS.forEach((bound, i) =>
        lines.push(`gramian_step_seconds_bucket{backend="${backend}",le="${bound}"} ${h.counts[i]}`),
      );
      lines.push(`gramian_step_seconds_bucket{backend="${backend}",le="+Inf"} ${h.count}`);
      lines.push(`gramian_step_seconds_sum{backend="${backend}"} ${h.sum}`);
      lines.push(`gramian_step_seconds_count{backend="${backend}"} ${h.count}`);
    }
    lines.push(
      '# HELP gramian_events_published_total Run and queue events this node published.',
      '# TYPE gramian_events_published_total counter',
      `gramian_events_published_total ${this.eventsPublished}`,
      '# HELP gramian_subscribers Event subscriptions open on this node.',
      '# TYPE gramian_subscribers gauge',
      `gramian_subscribers ${this.subscribers}`,
      '# HELP gramian_node_info This node.',
      '# TYPE gramian_node_info gauge',
      `gramian_node_info{role="${role}"} 1`,
    );
    if (held !== undefined)
      lines.push(
        '# HELP gramian_runs_held Runs this worker is computing now.',
        '# TYPE gramian_runs_held gauge',
        `gramian_runs_held ${held}`,
      );
    return `${lines.join('\n')}\n`;
  }
}

/**
 * The subscription, counted open until it ends or is returned, also when it is returned before its first event (a
 * subscriber that only wanted the snapshot).
 */
function counted<T>(inner: AsyncIterable<T>, opened: () => void, closed: () => void): AsyncIterableIterator<T> {
  const iterator = inner[Symbol.asyncIterator]();
  let open = true;
  opened();
  const close = () => {
    if (!open) return;
    open = false;
    closed();
  };
  return {
    next: async () => {
      const result = await iterator.next();
      if (result.done) close();
      return result;
    },
    return: async (value?: unknown) => {
      close();
      return (await iterator.return?.(value)) ?? { done: true, value: undefined };
    },
    throw: async (error?: unknown) => {
      close();
      if (iterator.throw) return iterator.throw(error);
      throw error;
    },
    [Symbol.asyncIterator]() {
      return this;
    },
  };
}
