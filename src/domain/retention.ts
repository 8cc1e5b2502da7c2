// Retention: what the server removes, and when; and what it stores, for operators.
//
// - An image is kept while any row names it (a style, a style model's preview, a run's content, result or
//   checkpoint, a run's style or preview). One nothing names is kept for a day after it was last stored
//   (Image.createdAt; ImageStore.save renews it), so a client can POST /images and name the image later, and a
//   GraphQL upload whose run or style was refused afterwards goes the next day.
// - deleteRun removes a finished run (steps, previews and styles rows cascade), then those of its images that
//   nothing else names, at once, unless they were stored again after the run ended (someone's fresh upload of the same
//   bytes, kept for its day). A QUEUED run is taken out of the queue first, as cancelRun would: it has produced
//   nothing. A RUNNING one is refused (CONFLICT): a delete never stops work in progress; cancel it first.
// - RUN_RETENTION_DAYS: finished runs that ended longer ago are deleted by each collection, as deleteRun would.
// - A collection (collect) does both; the server runs one a minute after it starts, then every GC_INTERVAL_SECONDS,
//   and `gramian gc` runs one now, also beside a running server. How images go safely, even while they are being
//   named or stored again, is in storage/image-collector.ts.
import type { Principal } from '../auth/principal.js';
import { ConflictError, NotFoundError } from '../errors.js';
import type { Db } from '../storage/db.js';
import type { ImageCollector, ImageTotals } from '../storage/image-collector.js';
import { ownedBy } from './owners.js';
import type { Runs } from './runs.js';
import { FINISHED_STATUSES, RUN_STATUSES, isFinished, type RunStatus } from './run-status.js';

const DAY_MS = 24 * 60 * 60 * 1000;
/** How long an image nothing names is kept after it was last stored. */
export const UNREFERENCED_GRACE_MS = DAY_MS;
/** The server's first collection, shortly after it starts (or after one interval, if shorter). */
const FIRST_PASS_DELAY_MS = 60_000;
/** Expired runs read per query. */
const RUN_BATCH = 100;

export interface RetentionOptions {
  db: Db;
  collector: ImageCollector;
  /** RUN_RETENTION_DAYS; finished runs are kept when undefined. */
  runRetentionDays?: number;
  log?: (message: string) => void;
}

/** What one collection removed. */
export interface CollectionReport {
  at: Date;
  ms: number;
  runs: number;
  images: number;
  bytes: number;
}

/** What deleteRun removed. */
export interface DeletedRun {
  id: string;
  images: number;
  bytes: number;
}

/** What the server stores: image rows and bytes (ImageTotals), runs and what they hold, and the collections. */
export interface StorageReport extends ImageTotals {
  runs: number;
  runsByStatus: { status: RunStatus; count: number }[];
  runSteps: number;
  runPreviews: number;
  styles: number;
  retentionDays: number | null;
  /** Finished runs past RUN_RETENTION_DAYS: the next collection deletes them. */
  expiredRuns: number;
  /** This server's last collection (not one by `gramian gc`), null before its first. */
  lastCollection: CollectionReport | null;
  nextCollectionAt: Date | null;
}

export class Retention {
  /** The last collection started, running or done; collections run one after another. */
  private pass: Promise<CollectionReport> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private stopping = false;
  private last: CollectionReport | null = null;
  private nextAt: Date | null = null;

  constructor(private readonly options: RetentionOptions) {}

  /**
   * Collects now: expired runs (with RUN_RETENTION_DAYS), then images nothing names that were stored over a day
   * ago. A collection already under way is finished first, so this one sees everything done before the call.
   */
  collect(): Promise<CollectionReport> {
    if (this.stopping) return Promise.reject(new Error('the server is stopping: no collection now'));
    const previous = this.pass;
    const pass = (async () => {
      await previous?.catch(() => {});
      return this.collectOnce();
    })();
    this.pass = pass;
    const settled = () => {
      if (this.pass === pass) this.pass = undefined;
    };
    pass.then(settled, settled);
    return pass;
  }

  /** Collections every `intervalMs` (0: none), the first after a minute at most; the timer keeps no process alive. */
  start(intervalMs: number): void {
    if (intervalMs <= 0 || this.stopping || this.timer) return;
    this.schedule(Math.min(intervalMs, FIRST_PASS_DELAY_MS), intervalMs);
  }

  /** No more collections; resolves once the one in progress, if any, has stopped (at its next batch). */
  async stop(): Promise<void> {
    this.stopping = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    this.nextAt = null;
    await this.pass?.catch(() => {});
  }

  private schedule(delayMs: number, intervalMs: number): void {
    this.nextAt = new Date(Date.now() + delayMs);
    this.timer = setTimeout(() => {
      this.nextAt = null;
      this.collect()
        .catch((error: unknown) => this.options.log?.(`collection failed: ${(error as Error).stack ?? String(error)}`))
        .finally(() => {
          this.timer = undefined;
          if (!this.stopping) this.schedule(intervalMs, intervalMs);
        });
    }, delayMs);
    this.timer.unref();
  }

  private async collectOnce(): Promise<CollectionReport> {
    const { db, collector, runRetentionDays: days } = this.options;
    const at = new Date();
    const report: CollectionReport = { at, ms: 0, runs: 0, images: 0, bytes: 0 };
    await collector.recoverTrash(at.getTime());
    if (days !== undefined) {
      const finishedBefore = new Date(at.getTime() - days * DAY_MS);
      while (!this.stopping) {
        const expired = await db.run.findMany({
          where: { status: { in: [...FINISHED_STATUSES] }, finishedAt: { lt: finishedBefore } },
          select: { id: true },
          orderBy: [{ finishedAt: 'asc' }, { id: 'asc' }],
          take: RUN_BATCH,
        });
        for (const { id } of expired) {
          // Null: deleted meanwhile (deleteRun, or `gramian gc` beside the server).
          const removed = await this.removeRun(id);
          if (!removed) continue;
          report.runs++;
          report.images += removed.images;
          report.bytes += removed.bytes;
        }
        if (expired.length < RUN_BATCH) break;
      }
    }
    if (!this.stopping) {
      const reaped = await collector.reap({
        storedBefore: new Date(at.getTime() - UNREFERENCED_GRACE_MS),
        shouldStop: () => this.stopping,
      });
      report.images += reaped.images;
      report.bytes += reaped.bytes;
    }
    report.ms = Date.now() - at.getTime();
    this.last = report;
    if (report.runs > 0 || report.images > 0)
      this.options.log?.(`collected ${report.runs} run(s), ${report.images} image(s), ${report.bytes} bytes`);
    return report;
  }

  /**
   * Deletes one of the principal's runs (an admin: anyone's), then its images nothing else names. Another owner's run
   * is not found; a running one is a conflict; a queued one is cancelled first (see the top of this file).
   */
  async deleteRun(runs: Pick<Runs, 'waiting' | 'cancel'>, principal: Principal, id: string): Promise<DeletedRun> {
    const run = await this.options.db.run.findFirst({ where: { id, ...ownedBy(principal) }, select: { status: true } });
    if (!run) throw new NotFoundError('Run', id);
    if (run.status === 'RUNNING')
      throw new ConflictError(`run ${id} is running: cancel it first (cancelRun), then delete it`);
    if (run.status === 'QUEUED') {
      // Only while it still waits in the queue: cancel() takes it out before any await, so it cannot start meanwhile.
      // One handed to a worker a moment ago is running.
      if (!(await runs.waiting(id)))
        throw new ConflictError(`run ${id} is starting: cancel it first (cancelRun), then delete it`);
      await runs.cancel(id);
    }
    const removed = await this.removeRun(id);
    if (!removed) throw new NotFoundError('Run', id);
    return removed;
  }

  /** Deletes a finished run and then its images that nothing names; null if the run is gone already. */
  private async removeRun(id: string): Promise<DeletedRun | null> {
    const { db, collector } = this.options;
    const run = await db.run.findUnique({
      where: { id },
      select: {
        status: true,
        finishedAt: true,
        contentImageId: true,
        resultImageId: true,
        checkpointImageId: true,
        styles: { select: { imageId: true } },
        previews: { select: { imageId: true } },
      },
    });
    if (!run) return null;
    if (!isFinished(run.status)) throw new ConflictError(`run ${id} is ${run.status}, not finished`);
    // A finished run changes no more, so the images read above are all of them. Its status is checked again in the
    // delete itself.
    const { count } = await db.run.deleteMany({ where: { id, status: { in: [...FINISHED_STATUSES] } } });
    if (count === 0) return null;
    const ids = [
      run.contentImageId,
      run.resultImageId,
      run.checkpointImageId,
      ...run.styles.map((s) => s.imageId),
      ...run.previews.map((p) => p.imageId),
    ].filter((imageId): imageId is string => imageId !== null);
    // Its images as they were when it ended: one stored again since is someone's fresh upload, kept for its day.
    // (A run without an end time keeps them all for the daily rule.)
    const storedBefore = new Date((run.finishedAt?.getTime() ?? 0) + 1);
    const reaped = await collector.reap({ ids, storedBefore });
    return { id, images: reaped.images, bytes: reaped.bytes };
  }

  /** What the server stores now, for the admin `storage` query and `gramian gc`. */
  async storage(now = new Date()): Promise<StorageReport> {
    const { db, collector, runRetentionDays: days } = this.options;
    const images = await collector.imageTotals(new Date(now.getTime() - UNREFERENCED_GRACE_MS));
    const [byStatus, runSteps, runPreviews, styles, expiredRuns] = await Promise.all([
      db.run.groupBy({ by: ['status'], _count: { _all: true } }),
      db.runStep.count(),
      db.runPreview.count(),
      db.style.count(),
      days === undefined
        ? 0
        : db.run.count({
            where: {
              status: { in: [...FINISHED_STATUSES] },
              finishedAt: { lt: new Date(now.getTime() - days * DAY_MS) },
            },
          }),
    ]);
    const counts = new Map(byStatus.map((group) => [group.status, group._count._all]));
    const runsByStatus = RUN_STATUSES.map((status) => ({ status, count: counts.get(status) ?? 0 }));
    return {
      ...images,
      runs: runsByStatus.reduce((sum, group) => sum + group.count, 0),
      runsByStatus,
      runSteps,
      runPreviews,
      styles,
      retentionDays: days ?? null,
      expiredRuns,
      lastCollection: this.last,
      nextCollectionAt: this.nextAt,
    };
  }
}
