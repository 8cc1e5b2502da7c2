// Run statuses: the Prisma enum RunStatus is the list; this file sorts it into active (a worker will still touch
// the run) and finished (the status is final), once, for the domain, the GraphQL schema and the subscriptions.
import { RunStatus } from '../storage/generated/enums.ts';

export { RunStatus };

/** A status added to the Prisma enum without a line here is a compile error, so none goes unclassified. */
const PHASE_OF_STATUS = {
  QUEUED: 'active',
  RUNNING: 'active',
  SUCCEEDED: 'finished',
  FAILED: 'finished',
  CANCELED: 'finished',
} as const satisfies Record<RunStatus, 'active' | 'finished'>;

type StatusIn<Phase> = {
  [Status in RunStatus]: (typeof PHASE_OF_STATUS)[Status] extends Phase ? Status : never;
}[RunStatus];

/** Waiting for a worker or being computed. */
export type ActiveStatus = StatusIn<'active'>;
/** Final: nothing changes the run any more (as BullMQ's FinishedStatus). */
export type FinishedStatus = StatusIn<'finished'>;

/** Every status, in the order of the Prisma enum. */
export const RUN_STATUSES: readonly RunStatus[] = Object.values(RunStatus);

export function isActive(status: RunStatus): status is ActiveStatus {
  return PHASE_OF_STATUS[status] === 'active';
}

export function isFinished(status: RunStatus): status is FinishedStatus {
  return PHASE_OF_STATUS[status] === 'finished';
}

export const ACTIVE_STATUSES: readonly ActiveStatus[] = RUN_STATUSES.filter(isActive);
export const FINISHED_STATUSES: readonly FinishedStatus[] = RUN_STATUSES.filter(isFinished);
