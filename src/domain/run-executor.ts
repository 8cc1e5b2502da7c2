// Runs one stored run on the engine, for whichever dispatcher handed it over (the embedded queue, or a cluster
// worker's job): starts it as a new attempt, persists what each engine event reports and then publishes it, saves its
// checkpoints, and stores a true final status however it ends. Every write is fenced on the attempt, so a worker that
// lost the run to another cannot change it any more.
import sharp from 'sharp';
import { CHECKPOINT_MIME, EngineError, type Engine, type TransferEvent } from '../engine/index.js';
import type { Metrics } from '../observability/metrics.js';
import type { Db } from '../storage/db.js';
import type { ImageStore } from '../storage/image-store.js';
import { RunLostError, RunStoreError } from './run-lost.js';
import { jobOfRun } from './run-job.js';
import type { HeldRun, RunForJob, RunRef, RunTransitions } from './run-transitions.js';
import { StepWriter } from './step-writer.js';
import type { StyleModelServices } from './style-models.js';
import type { Topics } from './topics.js';

export interface RunExecutorOptions {
  db: Db;
  images: ImageStore;
  engine: Pick<Engine, 'run'>;
  topics: Topics;
  transitions: RunTransitions;
  /** The engine's backend, recorded on every run. */
  backend: string;
  /** Where FAST runs find their style models. */
  models: Pick<StyleModelServices, 'modelsDir' | 'allowDownload' | 'env'>;
  /** A running Gatys run saves a checkpoint every this many steps (0: only when asked to stop with one). */
  checkpointEvery: number;
  /** Steps are written at most this often, in one transaction per batch. */
  stepFlushMs?: number;
  /** Step times, for /metrics. */
  metrics?: Pick<Metrics, 'observeStep'>;
  /**
   * Deletes images at once if nothing names them any more: a checkpoint another replaced (tens of MB each, so not
   * left for the daily collection).
   */
  discard?: (imageIds: string[]) => Promise<void>;
  log?: (message: string) => void;
}

/** How the holder of a run stops it: cancel (abort), or a graceful stop (checkpoint, then back to the queue). */
export interface RunControls {
  abort: AbortController;
  checkpoint: AbortController;
}

/**
 * How an execution ended: `finished` (a final status is stored), `requeued` (a graceful stop put it back in the
 * queue), `skipped` (it could not start: canceled or finished meanwhile, or held by another attempt), `lost` (another
 * attempt took it over while it ran: nothing more was written). It rejects with RunStoreError when the run's progress
 * could not be stored: the run is then left RUNNING, to be taken over from its last checkpoint.
 */
export type RunOutcome = 'finished' | 'requeued' | 'skipped' | 'lost';

/** Small inline preview sent with each preview event, so a client can show it before fetching the full one. */
async function thumbnailDataUrl(bytes: Uint8Array): Promise<string> {
  const thumbnail = await sharp(bytes)
    .resize({ width: 96, height: 96, fit: 'inside' })
    .jpeg({ quality: 60 })
    .toBuffer();
  return `data:image/jpeg;base64,${thumbnail.toString('base64')}`;
}

export class RunExecutor {
  constructor(private readonly options: RunExecutorOptions) {}

  /**
   * Runs `ref` to its end. `takeOver`: the run may be RUNNING already, held by a worker that is gone (a cluster job
   * that stalled); it resumes from its last checkpoint as a new attempt.
   */
  async execute(ref: RunRef, controls: RunControls, takeOver = false): Promise<RunOutcome> {
    const run = await this.options.transitions.start(ref, this.options.backend, takeOver).catch((error: unknown) => {
      throw new RunStoreError(ref.id, error);
    });
    if (!run) return 'skipped';
    if (run.checkpointStep) this.options.log?.(`run ${run.id} resumes after step ${run.checkpointStep}`);
    const held: HeldRun = { id: run.id, owner: run.owner, attempt: run.attempt };
    const writer = new StepWriter(held, this.options, this.options.stepFlushMs ?? 100, () => controls.abort.abort());
    const progress: RunProgress = { checkpoint: undefined };
    try {
      const onDownload = (p: { receivedBytes: number; totalBytes?: number }) =>
        this.publishDownload(run.id, p.receivedBytes, p.totalBytes);
      const job = await jobOfRun(this.options, run, onDownload, controls.abort.signal).catch((error: unknown) => {
        // A missing model fails the run; a store that does not answer only delays it.
        throw error instanceof EngineError ? error : new RunStoreError(run.id, error);
      });
      const signals = {
        signal: controls.abort.signal,
        checkpoint: controls.checkpoint.signal,
        checkpointEvery: this.options.checkpointEvery,
      };
      for await (const event of this.options.engine.run(job, signals)) {
        await this.handle(run, held, event, writer, progress).catch((error: unknown) => {
          throw error instanceof RunLostError ? error : new RunStoreError(run.id, error);
        });
      }
      return 'finished';
    } catch (error) {
      await writer.flush().catch(() => {});
      return this.ended(held, controls, error, progress).catch((failure: unknown) => {
        throw failure instanceof RunStoreError ? failure : new RunStoreError(held.id, failure);
      });
    }
  }

  /** Persists what one engine event reports (under this attempt), then publishes it. */
  private async handle(
    run: RunForJob,
    held: HeldRun,
    event: TransferEvent,
    writer: StepWriter,
    progress: RunProgress,
  ): Promise<void> {
    const { db, images, topics, transitions } = this.options;
    const runId = run.id;
    const fence = { id: runId, attempt: held.attempt };
    switch (event.type) {
      case 'started':
        await this.write(held, { width: event.width, height: event.height, totalSteps: event.totalSteps });
        Object.assign(run, { width: event.width, height: event.height });
        return;
      case 'step':
        this.options.metrics?.observeStep(this.options.backend, event.ms);
        writer.add(event);
        return;
      case 'preview': {
        await writer.flush();
        const image = await images.save(event.image, run.owner);
        // Only while this attempt holds the run, in one transaction with the check.
        await db.$transaction(async (tx) => {
          if ((await tx.run.count({ where: fence })) !== 1) throw new RunLostError(runId, held.attempt);
          await tx.runPreview.create({ data: { runId, step: event.step, imageId: image.id } });
        });
        const dataUrl = await thumbnailDataUrl(event.image.bytes);
        topics.publish('run', runId, { kind: 'preview', runId, step: event.step, imageId: image.id, dataUrl });
        return;
      }
      case 'download':
        this.publishDownload(runId, event.receivedBytes, event.totalBytes);
        return;
      case 'checkpoint': {
        // Steps first: the checkpoint never gets ahead of the stored curve.
        await writer.flush();
        const [width, height] = [run.width ?? 0, run.height ?? 0];
        const state = await images.saveObject(event.state, { mime: CHECKPOINT_MIME, width, height }, run.owner);
        await this.write(held, { checkpointImageId: state.id, checkpointStep: event.step });
        progress.checkpoint = { imageId: state.id, step: event.step };
        const replaced = run.checkpointImageId;
        run.checkpointImageId = state.id;
        if (replaced && replaced !== state.id) await this.discard(replaced);
        return;
      }
      case 'done': {
        await writer.flush();
        const image = await images.save(event.image, run.owner);
        const finished = await transitions.finish(held, 'SUCCEEDED', {
          resultImageId: image.id,
          lastStep: event.steps,
          contentLoss: event.losses.content,
          styleLoss: event.losses.style,
          tvLoss: event.losses.tv,
          totalLoss: event.losses.total,
          // Stored with the result, so a SUCCEEDED run's score is there as soon as its status is.
          qualityStyle: event.quality?.style ?? null,
          qualityContent: event.quality?.content ?? null,
          checkpointImageId: null,
          checkpointStep: null,
        });
        if (!finished) throw new RunLostError(runId, held.attempt);
        if (run.checkpointImageId) await this.discard(run.checkpointImageId);
        return;
      }
    }
  }

  /** A checkpoint no longer needed; a failure to delete it now leaves it to the daily collection. */
  private async discard(imageId: string): Promise<void> {
    await this.options.discard?.([imageId]).catch((error: Error) => {
      this.options.log?.(`checkpoint ${imageId} is left for the collection: ${error.message}`);
    });
  }

  /** Updates the run while this attempt holds it; RunLostError when it does not any more. */
  private async write(held: HeldRun, data: Parameters<Db['run']['updateMany']>[0]['data']): Promise<void> {
    const { count } = await this.options.db.run.updateMany({ where: { id: held.id, attempt: held.attempt }, data });
    if (count !== 1) throw new RunLostError(held.id, held.attempt);
  }

  /** The run stopped before its done event: requeued by a graceful stop, canceled, or failed with the reason. */
  private async ended(
    held: HeldRun,
    controls: RunControls,
    error: unknown,
    progress: RunProgress,
  ): Promise<RunOutcome> {
    const { transitions, log } = this.options;
    if (error instanceof RunLostError) {
      log?.(`run ${held.id}: ${error.message}; this worker stops computing it`);
      return 'lost';
    }
    // Left RUNNING: whoever runs it next (this process after a pause, or another worker) takes it over.
    if (error instanceof RunStoreError) throw error;
    if (controls.checkpoint.signal.aborted && !controls.abort.signal.aborted) {
      // A graceful stop (before its first step, a fast pass, or past the shutdown timeout too): back in the queue
      // (same queuedAt, so same place), to resume from its latest checkpoint if one was saved, else to start again.
      return (await transitions.requeue(held, progress.checkpoint)) ? 'requeued' : 'lost';
    }
    if (controls.abort.signal.aborted) {
      return (await transitions.finish(held, 'CANCELED', { cancelRequested: false })) ? 'finished' : 'lost';
    }
    const known = error instanceof EngineError;
    if (!known) log?.(`run ${held.id} failed: ${(error as Error).stack ?? String(error)}`);
    const failed = await transitions.finish(held, 'FAILED', {
      errorCode: known ? error.code : 'INTERNAL',
      errorMessage: known ? error.message : 'the engine failed unexpectedly; see the server log',
    });
    return failed ? 'finished' : 'lost';
  }

  /** Progress of a download the run waits for (weights or a style model): not stored, only shown. */
  private publishDownload(runId: string, receivedBytes: number, totalBytes?: number): void {
    this.options.topics.publish('run', runId, {
      kind: 'download',
      runId,
      receivedBytes,
      totalBytes: totalBytes ?? null,
    });
  }
}

/** What a run has saved in this attempt that a graceful stop resumes from. */
interface RunProgress {
  checkpoint: { imageId: string; step: number } | undefined;
}
