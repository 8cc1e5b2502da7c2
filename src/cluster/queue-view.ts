// Where each queued run stands in a cluster: the database's order (round, then oldest first), the order BullMQ
// starts them in (run-queue.ts), read by whichever node asks.
import type { QueueView, RunRef } from '../domain/run-transitions.js';
import type { Db } from '../storage/db.js';

export class DatabaseQueueView implements QueueView {
  constructor(private readonly db: Db) {}

  queued(): Promise<RunRef[]> {
    return this.db.run.findMany({
      where: { status: 'QUEUED' },
      orderBy: [{ round: 'asc' }, { queuedAt: 'asc' }, { id: 'asc' }],
      select: { id: true, owner: true },
    });
  }

  async position(runId: string): Promise<number | null> {
    const index = (await this.queued()).findIndex((run) => run.id === runId);
    return index < 0 ? null : index + 1;
  }
}
