// What the engine runs on, and how busy it is.
import { maxPixelsFor, type EngineInfo } from '../../engine/index.js';
import { builder } from '../builder.js';

const SkippedBackendRef = builder.objectRef<EngineInfo['skipped'][number]>('SkippedBackend').implement({
  fields: (t) => ({ backend: t.exposeString('backend'), reason: t.exposeString('reason') }),
});

const EngineRef = builder.objectRef<EngineInfo>('Engine').implement({
  fields: (t) => ({
    backend: t.exposeString('backend', { description: 'tensorflow-gpu, tensorflow, wasm or cpu.' }),
    gpu: t.exposeBoolean('gpu'),
    tfjsVersion: t.exposeString('tfjsVersion'),
    threads: t.exposeInt('threads', { description: 'Threads each engine worker computes with.' }),
    simd: t.exposeBoolean('simd'),
    workers: t.exposeInt('workers', { description: 'Runs that can execute at once.' }),
    weights: t.exposeString('weights', {
      nullable: true,
      description: 'Folder VGG19 was loaded from; null before the first run needed it.',
    }),
    skipped: t.expose('skipped', {
      type: [SkippedBackendRef],
      description: 'Backends tried first, and why they were not used.',
    }),
    maxOutputPixels: t.int({
      description: 'Largest output (width × height) this backend has memory for.',
      resolve: (info) => maxPixelsFor(info),
    }),
    queued: t.int({
      description: 'Runs waiting.',
      resolve: (_info, _args, { db }) => db.run.count({ where: { status: 'QUEUED' } }),
    }),
    running: t.int({
      description: 'Runs executing now.',
      resolve: (_info, _args, { db }) => db.run.count({ where: { status: 'RUNNING' } }),
    }),
  }),
});

builder.queryField('engine', (t) =>
  t.field({
    type: EngineRef,
    resolve: (_root, _args, { engine }) => engine.info(),
  }),
);
