// What the API asks of the runs, whichever mode serves them: the embedded queue in this process
// (run-manager.ts) or a cluster's shared queue (src/cluster/cluster-runs.ts).
import type { Run } from '../storage/generated/client.ts';

/** Who a new run is for, and whether it is exempt from the queued-runs quota (an admin's). */
export interface Claim {
  owner: string;
  exempt: boolean;
}

export interface Runs {
  /** On start: puts runs cut off by a crash back in the queue, and queues what waits. */
  recover(): Promise<void>;
  /** 1 for the next run to start, null when the run is not waiting. */
  position(runId: string): Promise<number | null>;
  /** Whether the run still waits in the queue (so it can be canceled before it starts). */
  waiting(runId: string): Promise<boolean>;
  /** Throws while shutting down; a cheap early check before the work of checking a request. */
  assertAccepting(): void;
  /** Throws QuotaExceededError when the owner has as many runs queued as allowed (admins are exempt). */
  assertQuota(claim: Claim): Promise<void>;
  /** Stores a new run (`write` creates it as QUEUED) and queues it; see run-manager.ts for the guarantees. */
  admit(claim: Claim, write: () => Promise<Run>): Promise<Run>;
  /** A queued run leaves the queue at once, a running one stops within one step; resolves once it is CANCELED. */
  cancel(runId: string): Promise<void>;
  /** Stops taking runs; running ones checkpoint and go back to the queue. */
  shutdown(timeoutMs: number): Promise<void>;
}
