// Live progress: one run's events (a snapshot first, then status, steps, previews, the end) and queue changes.
// Subscribing happens before the snapshot is read, so nothing published in between is lost; steps the snapshot
// already covers are skipped, so each step arrives once and in order.
import { encodeGlobalID } from '@pothos/plugin-relay';
import { filter, pipe } from 'graphql-yoga';
import { isFinished } from '../../domain/run-status.js';
import type { RunEvent, RunsChange } from '../../domain/topics.js';
import { NotFoundError } from '../../errors.js';
import type { Run, RunStep } from '../../storage/generated/client.ts';
import { mayRead, ownedBy } from '../../domain/owners.js';
import { builder } from '../builder.js';
import { localId } from './ids.js';
import { RunPreviewRef, RunRef, RunStatusEnum, RunStepRef } from './run.js';

type Snapshot = { kind: 'snapshot'; run: Run; lastStep: RunStep | null; queuePosition: number | null };
type Outgoing = Snapshot | RunEvent;

const RunSnapshotRef = builder.objectRef<Snapshot>('RunSnapshot').implement({
  description: 'The run as it stands when the subscription starts.',
  fields: (t) => ({
    run: t.field({ type: RunRef, resolve: (e) => e.run }),
    status: t.field({ type: RunStatusEnum, resolve: (e) => e.run.status }),
    lastStep: t.field({ type: RunStepRef, nullable: true, resolve: (e) => e.lastStep }),
    queuePosition: t.int({ nullable: true, resolve: (e) => e.queuePosition }),
  }),
});

const RunStatusChangedRef = builder.objectRef<Extract<RunEvent, { kind: 'status' }>>('RunStatusChanged').implement({
  fields: (t) => ({
    runId: t.id({ resolve: (e) => encodeGlobalID('Run', e.runId) }),
    status: t.field({ type: RunStatusEnum, resolve: (e) => e.status }),
    queuePosition: t.int({ nullable: true, resolve: (e) => e.queuePosition }),
  }),
});

const RunStepAddedRef = builder.objectRef<Extract<RunEvent, { kind: 'step' }>>('RunStepAdded').implement({
  fields: (t) => ({
    step: t.field({ type: RunStepRef, resolve: (e) => e.step }),
    totalSteps: t.int({ resolve: (e) => e.totalSteps }),
  }),
});

const RunPreviewAddedRef = builder.objectRef<Extract<RunEvent, { kind: 'preview' }>>('RunPreviewAdded').implement({
  fields: (t) => ({
    // Built from the event, not read back per subscriber: hundreds of those reads in one tick exceed SQLite's
    // parameter limit when Prisma merges them.
    preview: t.field({ type: RunPreviewRef, resolve: (e) => ({ runId: e.runId, step: e.step, imageId: e.imageId }) }),
    dataUrl: t.string({ description: 'A small inline JPEG of the preview.', resolve: (e) => e.dataUrl }),
  }),
});

const RunDownloadProgressRef = builder
  .objectRef<Extract<RunEvent, { kind: 'download' }>>('RunDownloadProgress')
  .implement({
    description: 'Weights or a style model being fetched before the run can compute (first use only).',
    fields: (t) => ({
      receivedBytes: t.float({ resolve: (e) => e.receivedBytes }),
      totalBytes: t.float({ nullable: true, resolve: (e) => e.totalBytes }),
    }),
  });

const RunEndedRef = builder.objectRef<Extract<RunEvent, { kind: 'end' }>>('RunEnded').implement({
  description: 'The run reached its final status; the subscription completes after this.',
  fields: (t) => ({
    status: t.field({ type: RunStatusEnum, resolve: (e) => e.status }),
    run: t.prismaField({
      type: 'Run',
      resolve: (query, e, _args, { db }) => db.run.findUniqueOrThrow({ ...query, where: { id: e.runId } }),
    }),
  }),
});

const RunEventUnion = builder.unionType('RunEvent', {
  types: [
    RunSnapshotRef,
    RunStatusChangedRef,
    RunStepAddedRef,
    RunPreviewAddedRef,
    RunDownloadProgressRef,
    RunEndedRef,
  ],
  resolveType: (event) =>
    ({
      snapshot: RunSnapshotRef,
      status: RunStatusChangedRef,
      step: RunStepAddedRef,
      preview: RunPreviewAddedRef,
      download: RunDownloadProgressRef,
      end: RunEndedRef,
    })[event.kind],
});

const RunsChangedRef = builder.objectRef<RunsChange>('RunsChanged').implement({
  description: 'A run was queued, started or finished.',
  fields: (t) => ({
    run: t.prismaField({
      type: 'Run',
      resolve: (query, e, _args, { db }) => db.run.findUniqueOrThrow({ ...query, where: { id: e.run.id } }),
    }),
    status: t.field({ type: RunStatusEnum, resolve: (e) => e.status }),
    queue: t.idList({
      description: "Ids of one's queued runs (an admin's: every queued run), next first.",
      resolve: (e, _args, { principal }) =>
        e.queue.filter((run) => mayRead(principal, run.owner)).map((run) => encodeGlobalID('Run', run.id)),
    }),
  }),
});

builder.subscriptionFields((t) => ({
  runEvents: t.field({
    type: RunEventUnion,
    description:
      'A snapshot of the run, then its status changes, steps, previews and end; completes when the run ends.',
    args: { runId: t.arg.id() },
    subscribe: async function* (_root, args, { db, runs, topics, principal }) {
      const runId = localId(String(args.runId), 'Run');
      const events = topics.subscribe('run', runId);
      try {
        // Another owner's run is not found: its existence is not revealed.
        const run = await db.run.findFirst({ where: { id: runId, ...ownedBy(principal) } });
        if (!run) throw new NotFoundError('Run', String(args.runId));
        const lastStep = await db.runStep.findFirst({ where: { runId }, orderBy: { step: 'desc' } });
        yield { kind: 'snapshot', run, lastStep, queuePosition: await runs.position(runId) } satisfies Outgoing;
        if (isFinished(run.status)) return;
        // Every step once, in order: those in the snapshot are not sent again, nor those a worker computes again
        // after taking the run over from its last checkpoint (the stored curve keeps the new ones).
        let seenStep = lastStep?.step ?? 0;
        for await (const event of events) {
          if (event.kind === 'step') {
            if (event.step.step <= seenStep) continue;
            seenStep = event.step.step;
          }
          yield event;
          if (event.kind === 'end') return;
        }
      } finally {
        await events.return?.();
      }
    },
    resolve: (event) => event,
  }),
  runsChanged: t.field({
    type: RunsChangedRef,
    description: "Every queue and status change of one's own runs (an admin's: of every run), for dashboards.",
    subscribe: (_root, _args, { topics, principal }) =>
      pipe(
        topics.subscribe('runs'),
        filter((change) => mayRead(principal, change.run.owner)),
      ),
    resolve: (change) => change,
  }),
}));
