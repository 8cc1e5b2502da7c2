// The runs as an API node of a cluster serves them: stored in PostgreSQL, queued as BullMQ jobs, started by workers
// on any host (run-worker.ts). Positions come from the database's order, so every node tells the same; position
// changes and statuses travel over Redis to the subscribers of every node.
import { ConflictError, NotFoundError, QuotaExceededError } from '../errors.js';
import { nextRound } from '../domain/fair-queue.js';
import { isFinished } from '../domain/run-status.js';
import { RunTransitions, type RunRef } from '../domain/run-transitions.js';
import type { Claim, Runs } from '../domain/runs.js';
import type { Topics } from '../domain/topics.js';
import type { Db } from '../storage/db.js';
import type { Run } from '../storage/generated/client.ts';
import { DatabaseQueueView } from './queue-view.js';
import type { RunQueue } from './run-queue.js';

export interface ClusterRunsOptions {
  db: Db;
  topics: Topics;
  queue: RunQueue;
  /** The most runs one owner may have queued, unless exempt (admins). */
  maxQueuedPerOwner: number;
  /** How long cancelRun waits for the worker holding a run to stop it. */
  cancelTimeoutMs?: number;
  log?: (message: string) => void;
}

/** How often a cancel that waits for a worker looks at the run again (besides the end event that usually comes). */
const CANCEL_POLL_MS = 250;

export class ClusterRuns implements Runs {
  private readonly view: DatabaseQueueView;
  readonly transitions: RunTransitions;
  private accepting = true;
  private readonly admissions = new Set<Promise<unknown>>();
  /** Per owner, runs this node is writing: they count against the quota before their row exists. */
  private readonly reserved = new Map<string, number>();

  constructor(private readonly options: ClusterRunsOptions) {
    this.view = new DatabaseQueueView(options.db);
    this.transitions = new RunTransitions(options.db, options.topics, this.view);
  }

  /**
   * Adds a job for every queued run (a job that exists is left as it is): what a node that stopped between storing a
   * run and queueing it left out, and what a Redis that lost its data (a restart without persistence) forgot.
   */
  async recover(): Promise<void> {
    const queued = await this.options.db.run.findMany({
      where: { status: 'QUEUED' },
      select: { id: true, round: true },
    });
    for (const run of queued) await this.options.queue.add(run);
  }

  position(runId: string): Promise<number | null> {
    return this.view.position(runId);
  }

  async waiting(runId: string): Promise<boolean> {
    const run = await this.options.db.run.findUnique({ where: { id: runId }, select: { status: true } });
    return run?.status === 'QUEUED';
  }

  assertAccepting(): void {
    if (!this.accepting) throw new ConflictError('the server is shutting down and does not accept new runs');
  }

  async assertQuota(claim: Claim): Promise<void> {
    const limit = this.options.maxQueuedPerOwner;
    if (claim.exempt) return;
    const queued = await this.options.db.run.count({ where: { owner: claim.owner, status: 'QUEUED' } });
    // Across nodes the count is the database's: two nodes admitting at the same moment may each let one more in.
    if (queued + (this.reserved.get(claim.owner) ?? 0) >= limit) throw new QuotaExceededError(limit);
  }

  async admit(claim: Claim, write: () => Promise<Run>): Promise<Run> {
    this.assertAccepting();
    await this.assertQuota(claim);
    this.reserved.set(claim.owner, (this.reserved.get(claim.owner) ?? 0) + 1);
    const admission = (async () => write())();
    this.admissions.add(admission);
    try {
      const run = await admission;
      const round = await this.roundFor(run);
      await this.options.db.run.update({ where: { id: run.id }, data: { round } });
      try {
        await this.options.queue.add({ id: run.id, round });
      } catch (error) {
        // Stored, so not lost: recover() queues it when Redis is back (every node runs it on reconnect).
        this.options.log?.(`run ${run.id} is stored but not queued yet (${(error as Error).message})`);
      }
      await this.transitions.queued(run);
      await this.transitions.publishPositions();
      return { ...run, round };
    } finally {
      this.admissions.delete(admission);
      const left = this.reserved.get(claim.owner)! - 1;
      if (left > 0) this.reserved.set(claim.owner, left);
      else this.reserved.delete(claim.owner);
    }
  }

  /**
   * A queued run is CANCELED at once and its job removed (a worker that took the job meanwhile finds it not queued
   * and skips it). A running one gets its cancel flag set in the database and a cancel message on Redis: the worker
   * holding it stops within one step (or, if that worker died, the one that takes it over ends it), and this resolves
   * once it is stored CANCELED.
   */
  async cancel(runId: string): Promise<void> {
    const { db, topics, queue } = this.options;
    const run = await db.run.findUnique({ where: { id: runId }, select: { id: true, owner: true, status: true } });
    if (!run) throw new NotFoundError('Run', runId);
    const ref: RunRef = { id: run.id, owner: run.owner };
    if (run.status === 'QUEUED' && (await this.transitions.cancelQueued(ref))) {
      await queue.remove(runId).catch(() => false);
      await this.transitions.publishPositions();
      return;
    }
    const { count } = await db.run.updateMany({
      where: { id: runId, status: 'RUNNING' },
      data: { cancelRequested: true },
    });
    if (count === 0) {
      const now = await db.run.findUniqueOrThrow({ where: { id: runId }, select: { status: true } });
      if (isFinished(now.status)) throw new ConflictError(`run ${runId} has already finished (${now.status})`);
      return this.cancel(runId); // it started or went back to the queue meanwhile: again, as it is now
    }
    topics.publish('cancel', runId);
    await this.untilFinished(runId);
  }

  async shutdown(): Promise<void> {
    this.accepting = false;
    await Promise.allSettled([...this.admissions]);
  }

  /** The fair-queue round of a new run: see fair-queue.ts; "the run started last" is the database's. */
  private async roundFor(run: Run): Promise<number> {
    const { db } = this.options;
    const [latest, owners] = await Promise.all([
      db.run.findFirst({
        where: { startedAt: { not: null } },
        orderBy: { startedAt: 'desc' },
        select: { round: true },
      }),
      db.run.findMany({
        where: { owner: run.owner, status: { in: ['QUEUED', 'RUNNING'] }, id: { not: run.id } },
        select: { owner: true, round: true },
      }),
    ]);
    return nextRound(run.owner, latest?.round ?? 0, owners);
  }

  private async untilFinished(runId: string): Promise<void> {
    const deadline = Date.now() + (this.options.cancelTimeoutMs ?? 120_000);
    for (;;) {
      const run = await this.options.db.run.findUniqueOrThrow({ where: { id: runId }, select: { status: true } });
      if (isFinished(run.status)) return;
      if (Date.now() > deadline) return; // the flag stays set: whichever worker holds the run next ends it
      await new Promise((resolve) => setTimeout(resolve, CANCEL_POLL_MS));
    }
  }
}
