// Retention in the API: deleteRun, and the storage report for operators (admins only). What is removed and when is
// src/domain/retention.ts.
import type { CollectionReport, DeletedRun, StorageReport } from '../../domain/retention.js';
import { ConflictError, NotFoundError } from '../../errors.js';
import { builder } from '../builder.js';
import { localId } from './ids.js';
import { RunStatusEnum } from './run.js';

const DeletedRunRef = builder.objectRef<DeletedRun & { globalId: string }>('DeletedRun').implement({
  description: 'A deleted run, and its images that nothing else used, deleted with it.',
  fields: (t) => ({
    deletedId: t.exposeID('globalId'),
    imagesRemoved: t.exposeInt('images'),
    bytesFreed: t.exposeFloat('bytes'),
  }),
});

const RunStatusCountRef = builder.objectRef<{ status: StorageReport['runsByStatus'][number]['status']; count: number }>(
  'RunStatusCount',
);
RunStatusCountRef.implement({
  fields: (t) => ({
    status: t.field({ type: RunStatusEnum, resolve: (group) => group.status }),
    count: t.exposeInt('count'),
  }),
});

const CollectionRef = builder.objectRef<CollectionReport>('Collection').implement({
  description: 'One collection of expired runs and unreferenced images.',
  fields: (t) => ({
    at: t.expose('at', { type: 'DateTime', description: 'When it started.' }),
    ms: t.exposeFloat('ms', { description: 'How long it took.' }),
    runs: t.exposeInt('runs', { description: 'Finished runs deleted (RUN_RETENTION_DAYS).' }),
    images: t.exposeInt('images', { description: 'Images deleted, rows and files.' }),
    bytes: t.exposeFloat('bytes'),
  }),
});

const StorageRef = builder.objectRef<StorageReport>('Storage').implement({
  description:
    'What the server stores. Byte counts are Floats (they pass 2³¹); every image row has one file of its size. ' +
    'An image nothing references is deleted a day after it was last stored.',
  fields: (t) => ({
    images: t.exposeInt('images', { description: 'Stored images (rows, one file each).' }),
    imageBytes: t.exposeFloat('bytes', { description: 'Their bytes on disk.' }),
    unreferencedImages: t.exposeInt('unreferencedImages', {
      description: 'Images no style, style model, run, run style or preview names (uploads not used yet, too).',
    }),
    unreferencedBytes: t.exposeFloat('unreferencedBytes'),
    reclaimableImages: t.exposeInt('reclaimableImages', {
      description: 'Unreferenced and last stored over a day ago: the next collection deletes them.',
    }),
    reclaimableBytes: t.exposeFloat('reclaimableBytes'),
    oldestUnreferencedAt: t.expose('oldestUnreferencedAt', {
      type: 'DateTime',
      nullable: true,
      description: 'When the unreferenced image stored longest ago was stored.',
    }),
    runs: t.exposeInt('runs'),
    runsByStatus: t.field({ type: [RunStatusCountRef], resolve: (storage) => storage.runsByStatus }),
    runSteps: t.exposeInt('runSteps', { description: 'Stored steps (the loss curves) of all runs.' }),
    runPreviews: t.exposeInt('runPreviews'),
    styles: t.exposeInt('styles'),
    retentionDays: t.exposeInt('retentionDays', {
      nullable: true,
      description: 'RUN_RETENTION_DAYS: finished runs are deleted this long after they ended; null: kept.',
    }),
    expiredRuns: t.exposeInt('expiredRuns', {
      description: 'Finished runs past retentionDays: the next collection deletes them.',
    }),
    lastCollection: t.field({
      type: CollectionRef,
      nullable: true,
      description: "This server's last collection (not one by `gramian gc`); null before its first.",
      resolve: (storage) => storage.lastCollection,
    }),
    nextCollectionAt: t.expose('nextCollectionAt', {
      type: 'DateTime',
      nullable: true,
      description: 'When this server collects next (GC_INTERVAL_SECONDS); null when it does not.',
    }),
  }),
});

builder.queryFields((t) => ({
  storage: t.field({
    type: StorageRef,
    authScopes: { admin: true },
    description: 'What the server stores and what the next collection would delete (admins only).',
    resolve: (_root, _args, { retention }) => retention.storage(),
  }),
}));

builder.mutationFields((t) => ({
  deleteRun: t.field({
    type: DeletedRunRef,
    authScopes: { run: true },
    errors: { types: [NotFoundError, ConflictError] },
    description:
      'Deletes a finished run with its steps and previews, and its images nothing else uses. A queued run is ' +
      'cancelled first; a running one is a CONFLICT (cancel it first).',
    args: { id: t.arg.id() },
    resolve: async (_root, args, { retention, runs, principal }) => {
      const deleted = await retention.deleteRun(runs, principal, localId(String(args.id), 'Run'));
      return { ...deleted, globalId: String(args.id) };
    },
  }),
}));
