// The cluster's queue of runs in BullMQ. A run is stored first, then added as a job whose id is the run's id, so
// adding it again (after a lost Redis, or by two nodes) is harmless. Jobs start by priority = the run's fair-queue
// round, then first in first out: the fair order of src/domain/fair-queue.ts, across every node.
import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';

export const RUN_QUEUE_NAME = 'runs';
/** BullMQ's largest priority. */
const MAX_PRIORITY = 2_097_152;

export interface RunJobData {
  runId: string;
}

export function bullPrefix(prefix: string): string {
  return `${prefix}:bull`;
}

export class RunQueue {
  readonly queue: Queue<RunJobData>;

  constructor(connection: Redis, prefix: string) {
    this.queue = new Queue<RunJobData>(RUN_QUEUE_NAME, {
      connection,
      prefix: bullPrefix(prefix),
      // A run's failure is stored on the run; a job is never retried by BullMQ (a stalled one is taken over instead).
      defaultJobOptions: { attempts: 1, removeOnComplete: true, removeOnFail: true },
    });
    this.queue.on('error', () => {}); // the connection logs outages itself
  }

  async add(run: { id: string; round: number }): Promise<void> {
    await this.queue.add(
      'run',
      { runId: run.id },
      { jobId: run.id, priority: Math.min(Math.max(1, run.round + 1), MAX_PRIORITY) },
    );
  }

  /** Removes a queued job (false when a worker holds it, or it is gone). */
  async remove(runId: string): Promise<boolean> {
    return (await this.queue.remove(runId)) === 1;
  }

  /** Jobs waiting (for /metrics). */
  async depth(): Promise<number> {
    return this.queue.count();
  }

  async close(): Promise<void> {
    await this.queue.close();
  }
}
