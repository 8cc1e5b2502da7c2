// The life of a run: queued in the database, handed to the engine in order, its steps, previews and result
// persisted and then published, and a true final status however it ends (done, cancelled, failed, or cut off by
// a restart). One run per engine worker at a time.
import sharp from 'sharp';
import { EngineError, type Engine, type Job, type StylizeParams, type TransferEvent, type TransferParams } from '../engine/index.js';
import { ConflictError, NotFoundError } from '../errors.js';
import type { Db } from '../storage/db.js';
import type { ImageStore } from '../storage/image-store.js';
import type { Prisma, Run, StyleModel } from '../storage/generated/client.ts';
import { modelSource, type StyleModelServices } from './style-models.js';
import type { FinishedStatus, RunStatus } from './run-status.js';
import type { RunStepRecord, Topics } from './topics.js';

type StepEvent = Extract<TransferEvent, { type: 'step' }>;

export interface RunManagerOptions {
  db: Db;
  images: ImageStore;
  engine: Engine;
  topics: Topics;
  /** Runs at once: one per engine worker. */
  capacity: number;
  /** The engine's backend, recorded on every run (fixed once the workers have started). */
  backend: string;
  /** Where FAST runs find their style models. */
  models: Pick<StyleModelServices, 'modelsDir' | 'allowDownload' | 'env'>;
  /** Steps are written at most this often, in one transaction per batch. */
  stepFlushMs?: number;
  log?: (message: string) => void;
}

interface ActiveRun {
  abort: AbortController;
  checkpoint: AbortController;
  finished: Promise<void>;
}

/** Small inline preview sent with each preview event, so a client can show it before fetching the full one. */
async function thumbnailDataUrl(bytes: Uint8Array): Promise<string> {
  const thumbnail = await sharp(bytes).resize({ width: 96, height: 96, fit: 'inside' }).jpeg({ quality: 60 }).toBuffer();
  return `data:image/jpeg;base64,${thumbnail.toString('base64')}`;
}

/**
 * Persists steps in batches so the database never holds up the engine, and publishes each batch only once it is
 * committed. Batches are written one after another, in order.
 */
class StepWriter {
  private pending: StepEvent[] = [];
  private timer?: NodeJS.Timeout;
  private written: Promise<void> = Promise.resolve();
  private failure?: unknown;

  constructor(
    private readonly runId: string,
    private readonly manager: { db: Db; topics: Topics },
    private readonly flushMs: number,
  ) {}

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
      this.written = this.written.then(() => (this.failure ? undefined : this.write(batch))).catch((error: unknown) => {
        this.failure ??= error;
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
    }));
    const last = records.at(-1)!;
    await db.$transaction([
      db.runStep.createMany({ data: records }),
      db.run.update({
        where: { id: this.runId },
        data: { lastStep: last.step, contentLoss: last.contentLoss, styleLoss: last.styleLoss, tvLoss: last.tvLoss, totalLoss: last.totalLoss },
      }),
    ]);
    for (const [i, record] of records.entries()) {
      topics.publish('run', this.runId, { kind: 'step', runId: this.runId, step: record, totalSteps: batch[i]!.totalSteps });
    }
  }
}

export class RunManager {
  /** Queued run ids, next first: the database order (queuedAt, id) kept in memory. */
  private readonly queue: string[] = [];
  private readonly active = new Map<string, ActiveRun>();
  private accepting = true;

  constructor(private readonly options: RunManagerOptions) {}

  /**
   * On start: runs left RUNNING were cut off (a graceful stop checkpoints them back to QUEUED), so they end FAILED
   * with the reason; QUEUED runs are queued again in their original order.
   */
  async recover(): Promise<void> {
    const { db } = this.options;
    const interrupted = await db.run.findMany({ where: { status: 'RUNNING' } });
    for (const run of interrupted) {
      await this.finish(run.id, 'FAILED', {
        errorCode: 'INTERRUPTED',
        errorMessage: `the server stopped during step ${run.lastStep + 1} of ${run.totalSteps} (crash or kill); the steps and previews before that are kept`,
      });
    }
    const queued = await db.run.findMany({ where: { status: 'QUEUED' }, orderBy: [{ queuedAt: 'asc' }, { id: 'asc' }], select: { id: true } });
    this.queue.push(...queued.map((r) => r.id));
    this.dispatch();
  }

  /** 1 for the next run to start, null when the run is not waiting. */
  position(runId: string): number | null {
    const index = this.queue.indexOf(runId);
    return index < 0 ? null : index + 1;
  }

  /** Throws while shutting down: called before a new run is written, so a refused run leaves nothing behind. */
  assertAccepting(): void {
    if (!this.accepting) throw new ConflictError('the server is shutting down and does not accept new runs');
  }

  /** Queues a run already stored as QUEUED. */
  enqueue(runId: string): void {
    this.assertAccepting();
    this.queue.push(runId);
    this.publishStatus(runId, 'QUEUED');
    this.dispatch();
  }

  /**
   * Cancels a run: a queued one leaves the queue at once, a running one stops within one step. Resolves when the
   * run is stored as CANCELED.
   */
  async cancel(runId: string): Promise<void> {
    const queuedAt = this.queue.indexOf(runId);
    if (queuedAt >= 0) {
      this.queue.splice(queuedAt, 1);
      await this.finish(runId, 'CANCELED', {});
      this.publishPositions();
      return;
    }
    const active = this.active.get(runId);
    if (active) {
      active.abort.abort();
      await active.finished;
      return;
    }
    const run = await this.options.db.run.findUnique({ where: { id: runId }, select: { status: true } });
    if (!run) throw new NotFoundError('Run', runId);
    throw new ConflictError(`run ${runId} has already finished (${run.status})`);
  }

  /** Stops taking runs; running ones save a checkpoint at the end of their current step and go back to QUEUED. */
  async shutdown(timeoutMs: number): Promise<void> {
    this.accepting = false;
    const running = [...this.active.values()];
    for (const run of running) run.checkpoint.abort();
    const all = Promise.all(running.map((r) => r.finished));
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), timeoutMs)));
    if ((await Promise.race([all, timedOut])) === 'timeout') {
      this.options.log?.(`runs did not stop within ${timeoutMs} ms; stopping them without a checkpoint`);
      for (const run of running) run.abort.abort();
      await all;
    }
    clearTimeout(timer);
  }

  private dispatch(): void {
    let started = false;
    while (this.accepting && this.active.size < this.options.capacity && this.queue.length > 0) {
      const runId = this.queue.shift()!;
      const active: ActiveRun = { abort: new AbortController(), checkpoint: new AbortController(), finished: Promise.resolve() };
      active.finished = this.execute(runId, active)
        .catch((error: unknown) => this.options.log?.(`run ${runId} could not be finished: ${(error as Error).stack ?? error}`))
        .finally(() => {
          this.active.delete(runId);
          this.dispatch();
        });
      this.active.set(runId, active);
      started = true;
    }
    if (started) this.publishPositions();
  }

  private async execute(runId: string, active: ActiveRun): Promise<void> {
    const { db, images, engine } = this.options;
    const run = await db.run.update({
      where: { id: runId },
      data: { status: 'RUNNING', startedAt: new Date(), backend: this.options.backend },
      include: { styles: { orderBy: { position: 'asc' } }, styleModel: true },
    });
    this.publishStatus(runId, 'RUNNING');
    const writer = new StepWriter(runId, this.options, this.options.stepFlushMs ?? 100);
    let checkpoint: { imageId: string; step: number } | undefined;
    try {
      const signals = { signal: active.abort.signal, checkpoint: active.checkpoint.signal };
      const job: Job = run.engine === 'FAST' ? { kind: 'FAST', params: await this.stylizeParams(run, active.abort.signal) } : { kind: 'GATYS', params: await this.transferParams(run) };
      const events = engine.run(job, signals);
      for await (const event of events) {
        if (event.type === 'step') {
          writer.add(event);
        } else if (event.type === 'started') {
          await db.run.update({ where: { id: runId }, data: { width: event.width, height: event.height, totalSteps: event.totalSteps } });
        } else if (event.type === 'preview') {
          await writer.flush();
          const image = await images.save(event.image);
          await db.runPreview.create({ data: { runId, step: event.step, imageId: image.id } });
          const dataUrl = await thumbnailDataUrl(event.image.bytes);
          this.options.topics.publish('run', runId, { kind: 'preview', runId, step: event.step, imageId: image.id, dataUrl });
        } else if (event.type === 'download') {
          this.publishDownload(runId, event.receivedBytes, event.totalBytes);
        } else if (event.type === 'checkpoint') {
          await writer.flush();
          const image = await images.save(event.image);
          checkpoint = { imageId: image.id, step: event.step };
        } else if (event.type === 'done') {
          await writer.flush();
          const image = await images.save(event.image);
          await this.finish(runId, 'SUCCEEDED', {
            resultImageId: image.id,
            lastStep: event.steps,
            contentLoss: event.losses.content,
            styleLoss: event.losses.style,
            tvLoss: event.losses.tv,
            totalLoss: event.losses.total,
            checkpointImageId: null,
            checkpointStep: null,
          });
        }
      }
    } catch (error) {
      await writer.flush().catch(() => {});
      if (active.checkpoint.signal.aborted) {
        // Stopped by a graceful shutdown (before its first step, a fast pass, or past the shutdown timeout too): back
        // in the queue (same queuedAt, so same place), to resume from the checkpoint if one was saved, else to start
        // again, on restart.
        await db.run.update({ where: { id: runId }, data: { status: 'QUEUED', checkpointImageId: checkpoint?.imageId ?? null, checkpointStep: checkpoint?.step ?? null } });
        this.publishStatus(runId, 'QUEUED');
      } else if (active.abort.signal.aborted) {
        await this.finish(runId, 'CANCELED', {});
      } else {
        const known = error instanceof EngineError;
        if (!known) this.options.log?.(`run ${runId} failed: ${(error as Error).stack ?? error}`);
        await this.finish(runId, 'FAILED', {
          errorCode: known ? error.code : 'INTERNAL',
          errorMessage: known ? error.message : 'the engine failed unexpectedly; see the server log',
        });
      }
    }
  }

  /** The engine's input for a stored run: its parameters, its images, and its checkpoint if it has one. */
  private async transferParams(run: Run & { styles: { imageId: string; weight: number }[] }): Promise<TransferParams> {
    const { images } = this.options;
    return {
      ...(run.params as object),
      content: await images.read(run.contentImageId),
      styles: await Promise.all(run.styles.map(async (s) => ({ image: await images.read(s.imageId), weight: s.weight }))),
      ...(run.checkpointImageId && run.checkpointStep !== null
        ? { resume: { image: await images.read(run.checkpointImageId), step: run.checkpointStep } }
        : {}),
    };
  }

  /** The engine's input for a stored FAST run: its options, its content, and its model (fetched first if needed). */
  private async stylizeParams(run: Run & { styleModel: StyleModel | null }, signal: AbortSignal): Promise<StylizeParams> {
    if (!run.styleModel) throw new EngineError('MODEL_MISSING', `the style model of this run (${(run.params as { styleModel?: string }).styleModel}) has been deleted`);
    const model = await modelSource(this.options.models, run.styleModel, (p) => this.publishDownload(run.id, p.receivedBytes, p.totalBytes), signal);
    return { ...(run.params as object), content: await this.options.images.read(run.contentImageId), model };
  }

  /** Progress of a download the run waits for (weights or a style model): not stored, only shown. */
  private publishDownload(runId: string, receivedBytes: number, totalBytes?: number): void {
    this.options.topics.publish('run', runId, { kind: 'download', runId, receivedBytes, totalBytes: totalBytes ?? null });
  }

  /** Stores a final status, then tells subscribers; the run's own subscription completes on the end event. */
  private async finish(runId: string, status: FinishedStatus, data: Prisma.RunUncheckedUpdateInput): Promise<void> {
    await this.options.db.run.update({ where: { id: runId }, data: { ...data, status, finishedAt: new Date() } });
    this.publishStatus(runId, status);
    this.options.topics.publish('run', runId, { kind: 'end', runId, status });
  }

  private publishStatus(runId: string, status: RunStatus): void {
    const { topics } = this.options;
    topics.publish('run', runId, { kind: 'status', runId, status, queuePosition: this.position(runId) });
    topics.publish('runs', { runId, status, queue: [...this.queue] });
  }

  /** Every queued run moved up: tell each its new place. */
  private publishPositions(): void {
    this.queue.forEach((runId, index) => {
      this.options.topics.publish('run', runId, { kind: 'status', runId, status: 'QUEUED', queuePosition: index + 1 });
    });
  }
}
