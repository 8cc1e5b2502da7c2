// A run's status changes, each stored before it is published, and only from a status it may follow: a run that was
// canceled or finished meanwhile is not moved again (the update matches no row, and nothing is published). Every
// move of a started run is fenced on its attempt: a worker that lost its job (another took it over) moves nothing.
import type { Db } from '../storage/db.js';
import type { Prisma, Run, RunStyle, StyleModel } from '../storage/generated/client.ts';
import type { FinishedStatus, RunStatus } from './run-status.js';
import type { Topics } from './topics.js';

/** For each status, the statuses a run may be in just before it. */
const MAY_FOLLOW = {
  QUEUED: ['RUNNING'],
  // From RUNNING too: a worker takes over a run whose worker died or lost its hold (a new attempt).
  RUNNING: ['QUEUED', 'RUNNING'],
  SUCCEEDED: ['RUNNING'],
  FAILED: ['QUEUED', 'RUNNING'],
  CANCELED: ['QUEUED', 'RUNNING'],
} as const satisfies Record<RunStatus, readonly RunStatus[]>;

/** A stored run with what the engine needs to run it. */
export type RunForJob = Run & {
  styles: RunStyle[];
  styleModel: StyleModel | null;
  /** What kind of checkpoint it has: the engine's full state, or (from before that) a PNG. */
  checkpointImage: { mime: string } | null;
};

/** Which run, and whose: subscribers of the queue see only their own runs. */
export interface RunRef {
  id: string;
  owner: string;
}

/** A started run and the attempt its holder writes under. */
export interface HeldRun extends RunRef {
  attempt: number;
}

/** Where each queued run stands: the embedded queue in memory, or the database's order in a cluster. */
export interface QueueView {
  /** Queued runs, next first. */
  queued(): Promise<readonly RunRef[]>;
}

export class RunTransitions {
  constructor(
    private readonly db: Db,
    private readonly topics: Topics,
    private readonly queue: QueueView,
  ) {}

  /**
   * QUEUED → RUNNING as a new attempt (or RUNNING → RUNNING: taking over from a worker that is gone, when `takeOver`
   * says so); the run with its styles and model, or null if it may not start. A run resumed from a checkpoint loses
   * the steps and previews after it, which this attempt computes again: the stored curve keeps no gap and no
   * duplicate.
   */
  async start(run: RunRef, backend: string, takeOver = false): Promise<(RunForJob & HeldRun) | null> {
    const from: RunStatus[] = takeOver ? ['QUEUED', 'RUNNING'] : ['QUEUED'];
    const started = await this.db.$transaction(async (tx) => {
      const { count } = await tx.run.updateMany({
        where: { id: run.id, status: { in: from }, cancelRequested: false },
        data: { status: 'RUNNING', startedAt: new Date(), backend, attempt: { increment: 1 } },
      });
      if (count !== 1) return null;
      const stored = await tx.run.findUniqueOrThrow({
        where: { id: run.id },
        include: {
          styles: { orderBy: { position: 'asc' } },
          styleModel: true,
          checkpointImage: { select: { mime: true } },
        },
      });
      const kept = stored.checkpointImageId ? (stored.checkpointStep ?? 0) : 0;
      if (stored.lastStep > kept) {
        await tx.runStep.deleteMany({ where: { runId: run.id, step: { gt: kept } } });
        await tx.runPreview.deleteMany({ where: { runId: run.id, step: { gt: kept } } });
        await tx.run.update({ where: { id: run.id }, data: { lastStep: kept } });
        stored.lastStep = kept;
      }
      return stored;
    });
    if (!started) return null;
    await this.publishStatus(run, 'RUNNING');
    return started;
  }

  /** RUNNING → QUEUED, keeping its place (same queuedAt) and the checkpoint to resume from, if one was saved. */
  async requeue(run: HeldRun | RunRef, checkpoint?: { imageId: string; step: number }): Promise<boolean> {
    const data = checkpoint ? { checkpointImageId: checkpoint.imageId, checkpointStep: checkpoint.step } : {};
    if (!(await this.move(run, 'QUEUED', data))) return false;
    await this.publishStatus(run, 'QUEUED');
    return true;
  }

  /** A final status, stored, then told to subscribers; the run's own subscription completes on the end event. */
  async finish(
    run: HeldRun | RunRef,
    status: FinishedStatus,
    data: Prisma.RunUncheckedUpdateManyInput = {},
    from: readonly RunStatus[] = MAY_FOLLOW[status],
  ): Promise<boolean> {
    if (!(await this.move(run, status, { ...data, finishedAt: new Date() }, from))) return false;
    await this.publishStatus(run, status);
    this.topics.publish('run', run.id, { kind: 'end', runId: run.id, status });
    return true;
  }

  /** QUEUED → CANCELED only (never one a worker holds: that one is asked to stop instead). */
  cancelQueued(run: RunRef): Promise<boolean> {
    return this.finish(run, 'CANCELED', {}, ['QUEUED']);
  }

  /** A run just stored as QUEUED. */
  async queued(run: RunRef): Promise<void> {
    await this.publishStatus(run, 'QUEUED');
  }

  /** Queued runs may have new places (one started, one left, one arrived ahead): tell each its place. */
  async publishPositions(): Promise<void> {
    const queued = await this.queue.queued();
    queued.forEach(({ id }, index) =>
      this.topics.publish('run', id, { kind: 'status', runId: id, status: 'QUEUED', queuePosition: index + 1 }),
    );
  }

  private async publishStatus(run: RunRef, status: RunStatus): Promise<void> {
    // One read of the queue for both (in a cluster it is a database query).
    const queued = await this.queue.queued();
    const index = queued.findIndex(({ id }) => id === run.id);
    const queuePosition = index < 0 ? null : index + 1;
    this.topics.publish('run', run.id, { kind: 'status', runId: run.id, status, queuePosition });
    this.topics.publish('runs', {
      run: { id: run.id, owner: run.owner },
      status,
      queue: queued.map(({ id, owner }) => ({ id, owner })),
    });
  }

  /**
   * Stores the new status if the run is in one it may follow (`from`, narrower where the caller says so; and, for a
   * held run, still under its attempt); false when it is not (nothing written).
   */
  private async move(
    run: HeldRun | RunRef,
    to: RunStatus,
    data: Prisma.RunUncheckedUpdateManyInput,
    from: readonly RunStatus[] = MAY_FOLLOW[to],
  ): Promise<boolean> {
    const fence = 'attempt' in run ? { attempt: run.attempt } : {};
    const { count } = await this.db.run.updateMany({
      where: { id: run.id, status: { in: [...from] }, ...fence },
      data: { ...data, status: to },
    });
    return count === 1;
  }
}
