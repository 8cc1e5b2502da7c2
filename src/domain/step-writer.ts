// A run's loss curve on its way to the database: steps are written in batches so the database never holds up the
// engine, and each batch is published only once it is committed.
import type { StepEvent } from '../engine/index.js';
import type { Db } from '../storage/db.js';
import { RunLostError } from './run-lost.js';
import type { HeldRun } from './run-transitions.js';
import type { RunStepRecord, Topics } from './topics.js';

/**
 * Persists steps in batches so the database never holds up the engine, and publishes each batch only once it is
 * committed. Batches are written one after another, in order, each only while the run is still held by this attempt
 * (else RunLostError); a batch that finds the run's cancel flag set (cancelRun on another node) calls onCancel.
 */
export class StepWriter {
  private pending: StepEvent[] = [];
  private timer?: NodeJS.Timeout;
  private written: Promise<void> = Promise.resolve();
  private failure?: Error;

  private readonly runId: string;

  constructor(
    private readonly run: HeldRun,
    private readonly manager: { db: Db; topics: Topics },
    private readonly flushMs: number,
    private readonly onCancel: () => void = () => {},
  ) {
    this.runId = run.id;
  }

  add(event: StepEvent): void {
    this.pending.push(event);
    this.timer ??= setTimeout(() => void this.flush().catch(() => {}), this.flushMs);
  }

  /** Writes what is pending; rejects if this or an earlier batch failed. */
  flush(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    const batch = this.pending.splice(0);
    if (batch.length > 0) {
      // After a failed batch nothing more is written: later steps would leave a gap in the stored curve.
      this.written = this.written
        .then(() => (this.failure ? undefined : this.write(batch)))
        .catch((error: unknown) => {
          this.failure ??= error instanceof Error ? error : new Error(String(error), { cause: error });
        });
    }
    return this.written.then(() => {
      if (this.failure) throw this.failure;
    });
  }

  private async write(batch: StepEvent[]): Promise<void> {
    const { db, topics } = this.manager;
    const records: RunStepRecord[] = batch.map((e) => ({
      runId: this.runId,
      step: e.step,
      scale: e.scale,
      contentLoss: e.contentLoss,
      styleLoss: e.styleLoss,
      tvLoss: e.tvLoss,
      totalLoss: e.totalLoss,
      ms: e.ms,
      tile: e.tile ?? null,
      tiles: e.tiles ?? null,
    }));
    const last = records.at(-1)!;
    const { attempt } = this.run;
    const canceled = await db.$transaction(async (tx) => {
      const { count } = await tx.run.updateMany({
        where: { id: this.runId, attempt },
        data: {
          lastStep: last.step,
          contentLoss: last.contentLoss,
          styleLoss: last.styleLoss,
          tvLoss: last.tvLoss,
          totalLoss: last.totalLoss,
        },
      });
      if (count !== 1) throw new RunLostError(this.runId, attempt);
      await tx.runStep.createMany({ data: records });
      const flags = await tx.run.findUniqueOrThrow({ where: { id: this.runId }, select: { cancelRequested: true } });
      return flags.cancelRequested;
    });
    if (canceled) this.onCancel();
    for (const [i, record] of records.entries()) {
      topics.publish('run', this.runId, {
        kind: 'step',
        runId: this.runId,
        step: record,
        totalSteps: batch[i]!.totalSteps,
      });
    }
  }
}
