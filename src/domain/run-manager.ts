// The embedded mode's runs: queued in the database and in memory, handed to the engine in the fair order, one per
// engine worker at a time (run-executor.ts runs each). A run cut off by a crash resumes from its last checkpoint
// after the restart. The cluster's counterpart is src/cluster/cluster-runs.ts.
import type { Engine } from '../engine/index.js';
import { ConflictError, NotFoundError, QuotaExceededError } from '../errors.js';
import type { Metrics } from '../observability/metrics.js';
import type { Db } from '../storage/db.js';
import type { Run } from '../storage/generated/client.ts';
import type { ImageStore } from '../storage/image-store.js';
import { inStartOrder, nextRound, withRounds, type RoundedRun } from './fair-queue.js';
import { RunExecutor, type RunControls } from './run-executor.js';
import { RunStoreError } from './run-lost.js';
import { RunTransitions } from './run-transitions.js';
import type { Claim, Runs } from './runs.js';
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
  /** A running Gatys run saves a checkpoint every this many steps (0: only when asked to stop with one). */
  checkpointEvery: number;
  /** Steps are written at most this often, in one transaction per batch. */
  stepFlushMs?: number;
  /** Step times, for /metrics. */
  metrics?: Pick<Metrics, 'observeStep'>;
  /** Deletes replaced checkpoints at once (see run-executor.ts). */
  discard?: (imageIds: string[]) => Promise<void>;
  log?: (message: string) => void;
}

interface ActiveRun extends RunControls {
  owner: string;
  round: number;
  finished: Promise<void>;
}

export class RunManager implements Runs {
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
  private readonly executor: RunExecutor;

  constructor(private readonly options: RunManagerOptions) {
    this.transitions = new RunTransitions(options.db, options.topics, {
      queued: () => Promise.resolve(this.order()),
    });
    this.executor = new RunExecutor({ ...options, transitions: this.transitions });
  }

  /**
   * On start: runs left RUNNING were cut off by a crash or a kill (a graceful stop puts them back in the queue
   * itself): they go back to the queue in their place, to resume from their last checkpoint (the steps after it are
   * computed again), or from the start if they had none. QUEUED runs are queued again in their original order.
   */
  async recover(): Promise<void> {
    const { db, log } = this.options;
    const interrupted = await db.run.findMany({ where: { status: 'RUNNING' }, select: { id: true, owner: true } });
    for (const run of interrupted) {
      if (await this.transitions.requeue(run)) log?.(`run ${run.id} was cut off by a stop; it resumes`);
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
  position(runId: string): Promise<number | null> {
    return Promise.resolve(this.positionNow(runId));
  }

  private positionNow(runId: string): number | null {
    const index = this.order().findIndex((run) => run.id === runId);
    return index < 0 ? null : index + 1;
  }

  /** Queued runs of one owner, with those being admitted: what counts against its quota. */
  queuedFor(owner: string): number {
    return this.queue.filter((run) => run.owner === owner).length + (this.reserved.get(owner) ?? 0);
  }

  /** Throws when the owner has as many runs queued as allowed (admins are exempt). */
  assertQuota(claim: Claim): Promise<void> {
    this.assertQuotaNow(claim);
    return Promise.resolve();
  }

  private assertQuotaNow(claim: Claim): void {
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
    this.assertQuotaNow(claim);
    this.reserved.set(claim.owner, (this.reserved.get(claim.owner) ?? 0) + 1);
    // Called inside an async function: a synchronous throw, too, lands in the finally that frees the place.
    const admission = (async () => write())();
    this.admissions.add(admission);
    try {
      const run = await admission;
      const round = nextRound(run.owner, this.round, [...this.queue, ...this.active.values()]);
      this.queue.push({ id: run.id, owner: run.owner, queuedAt: run.queuedAt, round });
      this.changed();
      await this.options.db.run.update({ where: { id: run.id }, data: { round } });
      await this.transitions.queued(run);
      // A new owner's run may start before runs queued earlier: theirs moved back.
      await this.transitions.publishPositions();
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
      await this.transitions.publishPositions();
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

  /** Whether the run waits in this queue (it can be canceled before it starts). */
  waiting(runId: string): Promise<boolean> {
    return Promise.resolve(this.queue.some((run) => run.id === runId));
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
      active.finished = this.executeUntilStored({ id: runId, owner: next.owner }, active)
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
    if (started) void this.transitions.publishPositions();
  }

  /**
   * Runs it; while its progress cannot be stored (the database away), pauses and takes it over again from its last
   * checkpoint, until it ends or the server stops.
   */
  private async executeUntilStored(ref: { id: string; owner: string }, active: ActiveRun): Promise<void> {
    let takeOver = false;
    for (;;) {
      try {
        await this.executor.execute(ref, active, takeOver);
        return;
      } catch (error) {
        if (!(error instanceof RunStoreError) || !this.accepting) throw error;
        this.options.log?.(`${error.message}; taking it up again in ${STORE_RETRY_MS / 1000} s`);
        await new Promise((resolve) => setTimeout(resolve, STORE_RETRY_MS));
        takeOver = true;
      }
    }
  }
}

/** How long a run whose progress could not be stored waits before it is taken up again. */
const STORE_RETRY_MS = 5_000;
