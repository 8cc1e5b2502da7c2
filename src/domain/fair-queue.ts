// The order queued runs start in, fair across owners: the next run goes to the owner with the fewest runs in
// progress, and among those to the oldest queued. One owner's fifty runs therefore do not hold another's one behind
// them, and each owner's own runs keep their order.
//
// Each run gets a round when it is queued (see nextRound) and runs start by round, then oldest first. The round is
// fixed: a run that finishes moves no one. Counting only the runs running at each start would not do: with one
// worker nothing is running when the next run is picked, so the rule would fall back to first come, first served,
// and a position told to a client would not be the order runs start in.

export interface QueuedRun {
  id: string;
  owner: string;
  queuedAt: Date;
}

function older(a: QueuedRun, b: QueuedRun): boolean {
  const byTime = a.queuedAt.getTime() - b.queuedAt.getTime();
  return byTime < 0 || (byTime === 0 && a.id < b.id);
}

/** A queued run with the round it was given when queued. */
export interface RoundedRun extends QueuedRun {
  round: number;
}

/**
 * The round a new run of `owner` joins: one past the owner's latest run queued or running, and never before
 * `current`, the round of the run started last. An owner with k runs in progress or waiting joins round current + k
 * at the earliest, so the owner with the fewest goes first.
 */
export function nextRound(owner: string, current: number, runs: Iterable<{ owner: string; round: number }>): number {
  let round = current;
  for (const run of runs) if (run.owner === owner) round = Math.max(round, run.round + 1);
  return round;
}

/** Runs in the order they start: by round, then the oldest queued (then by id). */
export function inStartOrder<T extends RoundedRun>(runs: readonly T[]): T[] {
  return [...runs].sort((a, b) => a.round - b.round || (older(a, b) ? -1 : older(b, a) ? 1 : 0));
}

/**
 * Rounds for runs queued all at once behind `running` (runs in progress per owner): each owner's runs, oldest first,
 * take rounds r, r + 1, … where r is its count in progress. What recovery gives the queue it reads back on start.
 */
export function withRounds(queued: readonly QueuedRun[], running: ReadonlyMap<string, number>): RoundedRun[] {
  const next = new Map<string, number>();
  return inStartOrder(queued.map((run) => ({ ...run, round: 0 }))).map((run) => {
    const round = next.get(run.owner) ?? running.get(run.owner) ?? 0;
    next.set(run.owner, round + 1);
    return { ...run, round };
  });
}

/**
 * Every queued run in the order it will start if nothing else is queued: each pick is the oldest run of the owners
 * with the fewest in progress, counting the runs running now and those picked before it.
 */
export function startOrder(queued: readonly QueuedRun[], running: ReadonlyMap<string, number>): QueuedRun[] {
  return inStartOrder(withRounds(queued, running)).map(({ round: _round, ...run }) => run);
}
