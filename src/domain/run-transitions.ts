// A run's status changes, each stored before it is published, and only from a status it may follow: a run that was
// canceled or finished meanwhile is not moved again (the update matches no row, and nothing is published).
import type { Db } from '../storage/db.js';
import type { Prisma, Run, RunStyle, StyleModel } from '../storage/generated/client.ts';
import type { FinishedStatus, RunStatus } from './run-status.js';
import type { Topics } from './topics.js';

/** For each status, the statuses a run may be in just before it. */
const MAY_FOLLOW = {
  QUEUED: ['RUNNING'],
  RUNNING: ['QUEUED'],
  SUCCEEDED: ['RUNNING'],
  FAILED: ['QUEUED', 'RUNNING'],
  CANCELED: ['QUEUED', 'RUNNING'],
} as const satisfies Record<RunStatus, readonly RunStatus[]>;

/** A stored run with what the engine needs to run it. */
export type RunForJob = Run & { styles: RunStyle[]; styleModel: StyleModel | null };

/** Which run, and whose: subscribers of the queue see only their own runs. */
export interface RunRef {
  id: string;
  owner: string;
}

/** Where each queued run stands, as the run manager's queue says. */
export interface QueueView {
  position(runId: string): number | null;
  /** Queued runs, next first. */
  queued(): readonly RunRef[];
}

export class RunTransitions {
  constructor(
    private readonly db: Db,
    private readonly topics: Topics,
    private readonly queue: QueueView,
  ) {}

  /** QUEUED → RUNNING; the run with its styles and model, or null if it is no longer queued. */
  async start(run: RunRef, backend: string): Promise<RunForJob | null> {
    if (!(await this.move(run.id, 'RUNNING', { startedAt: new Date(), backend }))) return null;
    this.publishStatus(run, 'RUNNING');
    return this.db.run.findUniqueOrThrow({
      where: { id: run.id },
      include: { styles: { orderBy: { position: 'asc' } }, styleModel: true },
    });
  }

  /** RUNNING → QUEUED, keeping its place (same queuedAt) and the checkpoint to resume from, if one was saved. */
  async requeue(run: RunRef, checkpoint: { imageId: string; step: number } | undefined): Promise<void> {
    const data = { checkpointImageId: checkpoint?.imageId ?? null, checkpointStep: checkpoint?.step ?? null };
    if (await this.move(run.id, 'QUEUED', data)) this.publishStatus(run, 'QUEUED');
  }

  /** A final status, stored, then told to subscribers; the run's own subscription completes on the end event. */
  async finish(run: RunRef, status: FinishedStatus, data: Prisma.RunUncheckedUpdateManyInput = {}): Promise<boolean> {
    if (!(await this.move(run.id, status, { ...data, finishedAt: new Date() }))) return false;
    this.publishStatus(run, status);
    this.topics.publish('run', run.id, { kind: 'end', runId: run.id, status });
    return true;
  }

  /** A run just stored as QUEUED. */
  queued(run: RunRef): void {
    this.publishStatus(run, 'QUEUED');
  }

  /** Queued runs may have new places (one started, one left, one arrived ahead): tell each its place. */
  publishPositions(): void {
    this.queue.queued().forEach(({ id }, index) => {
      this.topics.publish('run', id, { kind: 'status', runId: id, status: 'QUEUED', queuePosition: index + 1 });
    });
  }

  private publishStatus(run: RunRef, status: RunStatus): void {
    const queuePosition = this.queue.position(run.id);
    this.topics.publish('run', run.id, { kind: 'status', runId: run.id, status, queuePosition });
    this.topics.publish('runs', { run, status, queue: this.queue.queued().map(({ id, owner }) => ({ id, owner })) });
  }

  /** Stores the new status if the run is in one it may follow; false when it is not (nothing written). */
  private async move(runId: string, to: RunStatus, data: Prisma.RunUncheckedUpdateManyInput): Promise<boolean> {
    const { count } = await this.db.run.updateMany({
      where: { id: runId, status: { in: [...MAY_FOLLOW[to]] } },
      data: { ...data, status: to },
    });
    return count === 1;
  }
}
