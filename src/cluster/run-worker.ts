// A cluster worker: takes run jobs from BullMQ, as many at once as it has engine workers, and runs each with the
// run executor (src/domain/run-executor.ts). A job whose worker died (SIGKILL, a lost host) stalls when its lock
// lapses; BullMQ hands it to another worker, which takes the run over as a new attempt and resumes it from its last
// checkpoint, while every write of the old attempt is refused. A cancel reaches the worker holding the run through
// Redis (and its database flag); SIGTERM checkpoints the runs and hands their jobs back to the queue.
import { DelayedError, Worker, WaitingError, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import { isFinished } from '../domain/run-status.js';
import type { RunControls, RunExecutor, RunOutcome } from '../domain/run-executor.js';
import type { RunTransitions } from '../domain/run-transitions.js';
import type { Topics } from '../domain/topics.js';
import type { Db } from '../storage/db.js';
import { bullPrefix, RUN_QUEUE_NAME, type RunJobData } from './run-queue.js';

export interface RunWorkerOptions {
  db: Db;
  topics: Topics;
  executor: RunExecutor;
  transitions: RunTransitions;
  connection: Redis;
  prefix: string;
  /** Runs at once: the engine's workers. */
  concurrency: number;
  /** How long a hold on a job lasts without renewal: a dead worker's job moves on after about this long. */
  lockMs: number;
  log?: (message: string) => void;
}

/** How long a run whose writes failed waits before a worker takes it up again. */
const RETRY_AFTER_MS = 5_000;

interface HeldJob {
  controls: RunControls;
  done: Promise<unknown>;
}

export class RunWorker {
  private readonly worker: Worker<RunJobData>;
  private readonly held = new Map<string, HeldJob>();
  private readonly cancels: AsyncIterator<string>;
  private closing?: Promise<void>;

  constructor(private readonly options: RunWorkerOptions) {
    this.worker = new Worker<RunJobData>(RUN_QUEUE_NAME, (job, token) => this.process(job, token), {
      connection: options.connection,
      prefix: bullPrefix(options.prefix),
      concurrency: options.concurrency,
      lockDuration: options.lockMs,
      stalledInterval: Math.max(500, Math.floor(options.lockMs / 2)),
      // A run is taken over however often its workers die: each take-over resumes it, none repeats a step.
      maxStalledCount: 1000,
    });
    this.worker.on('error', (error) => options.log?.(`worker queue: ${error.message}`));
    this.cancels = options.topics.subscribe('cancel')[Symbol.asyncIterator]();
    void this.listenForCancels();
  }

  /** Runs held here now (for /metrics and the lead's tests). */
  get running(): number {
    return this.held.size;
  }

  /** Waits until the worker is connected and taking jobs. */
  async ready(): Promise<void> {
    await this.worker.waitUntilReady();
  }

  /**
   * SIGTERM: the runs held here finish their step, save a checkpoint and go back to the queue, where another worker
   * (or this one after a restart) resumes them; after `timeoutMs` they are stopped without one (they resume from
   * their last periodic checkpoint).
   */
  close(timeoutMs: number): Promise<void> {
    this.closing ??= (async () => {
      const held = [...this.held.values()];
      for (const job of held) job.controls.checkpoint.abort();
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), timeoutMs)));
      if ((await Promise.race([Promise.allSettled(held.map((j) => j.done)), timedOut])) === 'timeout') {
        for (const job of held) job.controls.abort.abort();
      }
      clearTimeout(timer);
      await this.worker.close();
      await this.cancels.return?.();
    })();
    return this.closing;
  }

  private async process(job: Job<RunJobData>, token: string | undefined): Promise<void> {
    const runId = job.data.runId;
    let outcome;
    try {
      outcome = await this.runJob(runId);
    } catch (error) {
      // The run could not be read or stored (PostgreSQL away): whatever its status, the job comes back a little
      // later, to whichever worker, which finds the run as it is then (a RUNNING one is taken over from its last
      // checkpoint). Never dropped: a job that ended here would leave its run waiting with no job.
      this.options.log?.(`run ${runId}: ${(error as Error).message}; it is taken up again in a moment`);
      await job.moveToDelayed(Date.now() + RETRY_AFTER_MS, token);
      throw new DelayedError();
    }
    if (outcome === 'requeued') {
      this.options.log?.(`run ${runId} goes back to the queue`);
      // Back to waiting, for any worker: BullMQ's way for a processor to hand its job back.
      await job.moveToWait(token);
      throw new WaitingError();
    }
  }

  private async runJob(runId: string): Promise<RunOutcome | undefined> {
    const { db, executor, transitions } = this.options;
    const run = await db.run.findUnique({
      where: { id: runId },
      select: { owner: true, status: true, cancelRequested: true },
    });
    if (!run || isFinished(run.status)) return undefined; // deleted or finished meanwhile: nothing to do
    const ref = { id: runId, owner: run.owner };
    if (run.cancelRequested) {
      // Its worker was asked to cancel it and died before it could: end it here.
      await transitions.finish(ref, 'CANCELED', { cancelRequested: false });
      return 'finished';
    }
    const controls: RunControls = { abort: new AbortController(), checkpoint: new AbortController() };
    if (this.closing) controls.checkpoint.abort();
    const done = executor.execute(ref, controls, true);
    this.held.set(runId, { controls, done });
    try {
      return await done;
    } finally {
      this.held.delete(runId);
    }
  }

  private async listenForCancels(): Promise<void> {
    for (;;) {
      const next = await this.cancels.next();
      if (next.done) return;
      this.held.get(next.value)?.controls.abort.abort();
    }
  }
}
