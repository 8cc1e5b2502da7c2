// The life of a run: queued in the database, handed to the engine in order, its steps, previews and result
// persisted and then published, and a true final status however it ends (done, cancelled, failed, or cut off by
// a restart). One run per engine worker at a time.
import sharp from 'sharp';
import { EngineError, type Engine, type TransferEvent } from '../engine/index.js';
import { ConflictError, NotFoundError, QuotaExceededError } from '../errors.js';
import type { Db } from '../storage/db.js';
import type { Run } from '../storage/generated/client.ts';
import type { ImageStore } from '../storage/image-store.js';
import { jobOfRun } from './run-job.js';
import { inStartOrder, nextRound, withRounds, type RoundedRun } from './fair-queue.js';
import { RunTransitions, type RunForJob } from './run-transitions.js';
import { StepWriter } from './step-writer.js';
import type { StyleModelServices } from './style-models.js';
import type { Topics } from './topics.js';

export interface RunManagerOptions {
  db: Db;
  images: ImageStore;
  engine: Engine;
  topics: Topics;
  /** Runs at once: one per engine worker. */
  capacity: number;
  /** The most runs one owner may have queued (or being admitted), unless exempt (admins). */
  maxQueuedPerOwner: number;
  /** The engine's backend, recorded on every run (fixed once the workers have started). */
  backend: string;
  /** Where FAST runs find their style models. */
  models: Pick<StyleModelServices, 'modelsDir' | 'allowDownload' | 'env'>;
  /** Steps are written at most this often, in one transaction per batch. */
  stepFlushMs?: number;
  log?: (message: string) => void;
}

interface ActiveRun {
  owner: string;
  round: number;
  abort: AbortController;
  checkpoint: AbortController;
  finished: Promise<void>;
}

/** Small inline preview sent with each preview event, so a client can show it before fetching the full one. */
async function thumbnailDataUrl(bytes: Uint8Array): Promise<string> {
  const thumbnail = await sharp(bytes)
    .resize({ width: 96, height: 96, fit: 'inside' })
    .jpeg({ quality: 60 })
    .toBuffer();
  return `data:image/jpeg;base64,${thumbnail.toString('base64')}`;
}

/** Who a new run is for, and whether it is exempt from the queued-runs quota (an admin's). */
export interface Claim {
  owner: string;
  exempt: boolean;
}

export class RunManager {
  /** Queued runs, as the database has them (status QUEUED), each with its round (see fair-queue.ts). */
  private readonly queue: RoundedRun[] = [];
  /** The queue in start order, computed when the queue last changed. */
  private ordered: RoundedRun[] | undefined;
  private readonly active = new Map<string, ActiveRun>();
  /** The round of the run started last: new runs join it or a later one. */
  private round = 0;
  /** New runs being written: shutdown waits for them, so none is left half-admitted. */
  private readonly admissions = new Set<Promise<unknown>>();
  /** Per owner, runs being written: they hold a place in the quota before their row exists. */
  private readonly reserved = new Map<string, number>();
  private accepting = true;
  private readonly transitions: RunTransitions;

  constructor(private readonly options: RunManagerOptions) {
    this.transitions = new RunTransitions(options.db, options.topics, {
      position: (runId) => this.position(runId),
      queued: () => this.order(),
    });
  }

  /**
   * On start: runs left RUNNING were cut off (a graceful stop checkpoints them back to QUEUED), so they end FAILED
   * with the reason; QUEUED runs are queued again in their original order.
   */
  async recover(): Promise<void> {
    const { db } = this.options;
    const interrupted = await db.run.findMany({ where: { status: 'RUNNING' } });
    for (const run of interrupted) {
      await this.transitions.finish(run, 'FAILED', {
        errorCode: 'INTERRUPTED',
        errorMessage:
          `the server stopped during step ${run.lastStep + 1} of ${run.totalSteps} (crash or kill); ` +
          'the steps and previews before that are kept',
      });
    }
    const queued = await db.run.findMany({
      where: { status: 'QUEUED' },
      orderBy: [{ queuedAt: 'asc' }, { id: 'asc' }],
      select: { id: true, owner: true, queuedAt: true },
    });
    this.queue.push(...withRounds(queued, new Map()));
    this.changed();
    this.dispatch();
  }

  /** 1 for the next run to start, null when the run is not waiting. */
  position(runId: string): number | null {
    const index = this.order().findIndex((run) => run.id === runId);
    return index < 0 ? null : index + 1;
  }

  /** Queued runs of one owner, with those being admitted: what counts against its quota. */
  queuedFor(owner: string): number {
    return this.queue.filter((run) => run.owner === owner).length + (this.reserved.get(owner) ?? 0);
  }

  /** Throws when the owner has as many runs queued as allowed (admins are exempt). */
  assertQuota(claim: Claim): void {
    const limit = this.options.maxQueuedPerOwner;
    if (!claim.exempt && this.queuedFor(claim.owner) >= limit) throw new QuotaExceededError(limit);
  }

  /** The queued runs in the order they will start (see fair-queue.ts). */
  private order(): RoundedRun[] {
    this.ordered ??= inStartOrder(this.queue);
    return this.ordered;
  }

  /** The queue changed: the order is computed afresh. */
  private changed(): void {
    this.ordered = undefined;
  }

  /** Throws while shutting down; a cheap early check before the work of checking a request. */
  assertAccepting(): void {
    if (!this.accepting) throw new ConflictError('the server is shutting down and does not accept new runs');
  }

  /**
   * Stores a new run (`write` creates it as QUEUED, with whatever it needs) and queues it. Refused with nothing
   * written if shutdown has begun or the owner's quota is full; once writing has begun the run is accepted, and
   * shutdown waits for it: a run is either refused and absent, or stored and queued (running after a restart), never
   * stored but refused. The quota is checked and its place reserved in one synchronous step, so two requests at the
   * limit cannot both pass the check while the first is still being written.
   */
  async admit(claim: Claim, write: () => Promise<Run>): Promise<Run> {
    this.assertAccepting();
    this.assertQuota(claim);
    this.reserved.set(claim.owner, (this.reserved.get(claim.owner) ?? 0) + 1);
    // Called inside an async function: a synchronous throw, too, lands in the finally that frees the place.
    const admission = (async () => write())();
    this.admissions.add(admission);
    try {
      const run = await admission;
      const round = nextRound(run.owner, this.round, [...this.queue, ...this.active.values()]);
      this.queue.push({ id: run.id, owner: run.owner, queuedAt: run.queuedAt, round });
      this.changed();
      this.transitions.queued(run);
      // A new owner's run may start before runs queued earlier: theirs moved back.
      this.transitions.publishPositions();
      this.dispatch();
      return run;
    } finally {
      this.admissions.delete(admission);
      const left = this.reserved.get(claim.owner)! - 1;
      if (left > 0) this.reserved.set(claim.owner, left);
      else this.reserved.delete(claim.owner);
    }
  }

  /**
   * Cancels a run: a queued one leaves the queue at once, a running one stops within one step. Resolves when the
   * run is stored as CANCELED.
   */
  async cancel(runId: string): Promise<void> {
    const queuedAt = this.queue.findIndex((run) => run.id === runId);
    if (queuedAt >= 0) {
      const [run] = this.queue.splice(queuedAt, 1);
      this.changed();
      await this.transitions.finish(run!, 'CANCELED');
      this.transitions.publishPositions();
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
    await Promise.allSettled([...this.admissions]);
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
      const next = this.order()[0]!;
      this.queue.splice(this.queue.indexOf(next), 1);
      const runId = next.id;
      this.round = next.round;
      const active: ActiveRun = {
        owner: next.owner,
        round: next.round,
        abort: new AbortController(),
        checkpoint: new AbortController(),
        finished: Promise.resolve(),
      };
      active.finished = this.execute(runId, active)
        .catch((error: unknown) =>
          this.options.log?.(`run ${runId} could not be finished: ${(error as Error).stack ?? String(error)}`),
        )
        .finally(() => {
          this.active.delete(runId);
          this.changed();
          this.dispatch();
        });
      this.active.set(runId, active);
      this.changed();
      started = true;
    }
    if (started) this.transitions.publishPositions();
  }

  private async execute(runId: string, active: ActiveRun): Promise<void> {
    const run = await this.transitions.start({ id: runId, owner: active.owner }, this.options.backend);
    // Canceled (or finished) between leaving the queue and starting: nothing to run.
    if (!run) return;
    const writer = new StepWriter(runId, this.options, this.options.stepFlushMs ?? 100);
    const progress: RunProgress = { checkpoint: undefined };
    try {
      const onDownload = (p: { receivedBytes: number; totalBytes?: number }) =>
        this.publishDownload(runId, p.receivedBytes, p.totalBytes);
      const job = await jobOfRun(this.options, run, onDownload, active.abort.signal);
      const signals = { signal: active.abort.signal, checkpoint: active.checkpoint.signal };
      for await (const event of this.options.engine.run(job, signals)) await this.handle(run, event, writer, progress);
    } catch (error) {
      await writer.flush().catch(() => {});
      await this.ended(runId, active, error, progress);
    }
  }

  /** Persists what one engine event reports, then publishes it. */
  private async handle(run: RunForJob, event: TransferEvent, writer: StepWriter, progress: RunProgress): Promise<void> {
    const { db, images, topics } = this.options;
    const runId = run.id;
    switch (event.type) {
      case 'started':
        await db.run.update({
          where: { id: runId },
          data: { width: event.width, height: event.height, totalSteps: event.totalSteps },
        });
        return;
      case 'step':
        writer.add(event);
        return;
      case 'preview': {
        await writer.flush();
        const image = await images.save(event.image, run.owner);
        await db.runPreview.create({ data: { runId, step: event.step, imageId: image.id } });
        const dataUrl = await thumbnailDataUrl(event.image.bytes);
        topics.publish('run', runId, { kind: 'preview', runId, step: event.step, imageId: image.id, dataUrl });
        return;
      }
      case 'download':
        this.publishDownload(runId, event.receivedBytes, event.totalBytes);
        return;
      case 'checkpoint': {
        await writer.flush();
        const image = await images.save(event.image, run.owner);
        progress.checkpoint = { imageId: image.id, step: event.step };
        return;
      }
      case 'done': {
        await writer.flush();
        const image = await images.save(event.image, run.owner);
        await this.transitions.finish(run, 'SUCCEEDED', {
          resultImageId: image.id,
          lastStep: event.steps,
          contentLoss: event.losses.content,
          styleLoss: event.losses.style,
          tvLoss: event.losses.tv,
          totalLoss: event.losses.total,
          checkpointImageId: null,
          checkpointStep: null,
        });
        return;
      }
    }
  }

  /** The run stopped before its done event: requeued by a graceful stop, canceled, or failed with the reason. */
  private async ended(runId: string, active: ActiveRun, error: unknown, progress: RunProgress): Promise<void> {
    if (active.checkpoint.signal.aborted) {
      // Stopped by a graceful shutdown (before its first step, a fast pass, or past the shutdown timeout too): back
      // in the queue (same queuedAt, so same place), to resume from the checkpoint if one was saved, else to start
      // again, on restart.
      await this.transitions.requeue({ id: runId, owner: active.owner }, progress.checkpoint);
    } else if (active.abort.signal.aborted) {
      await this.transitions.finish({ id: runId, owner: active.owner }, 'CANCELED');
    } else {
      const known = error instanceof EngineError;
      if (!known) this.options.log?.(`run ${runId} failed: ${(error as Error).stack ?? String(error)}`);
      await this.transitions.finish({ id: runId, owner: active.owner }, 'FAILED', {
        errorCode: known ? error.code : 'INTERNAL',
        errorMessage: known ? error.message : 'the engine failed unexpectedly; see the server log',
      });
    }
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

/** What a run has saved so far that outlives its events: the checkpoint a graceful stop resumes from. */
interface RunProgress {
  checkpoint: { imageId: string; step: number } | undefined;
}
