// A worker that no longer holds its run: another attempt took it over (this worker was thought dead: killed, or its
// hold on the job lapsed while it was cut off). Its writes are refused, and it stops computing the run.
export class RunLostError extends Error {
  override readonly name = 'RunLostError';

  constructor(
    readonly runId: string,
    readonly attempt: number,
  ) {
    super(`run ${runId} is no longer held by attempt ${attempt}: another worker has taken it over`);
  }
}

/**
 * What a run computed could not be stored (the database or the image store is away). Not the run's fault: it is not
 * failed for it, but taken up again from its last checkpoint once storage answers.
 */
export class RunStoreError extends Error {
  override readonly name = 'RunStoreError';

  constructor(
    readonly runId: string,
    cause: unknown,
  ) {
    super(`run ${runId}: its progress could not be stored (${(cause as Error)?.message ?? String(cause)})`, { cause });
  }
}
