// What the engine runs on, and how busy it is.
import { maxFastPixelsFor, maxPixelsFor, type EngineInfo, type GpuAdapter } from '../../engine/index.js';
import { builder } from '../builder.js';

const SkippedBackendRef = builder.objectRef<EngineInfo['skipped'][number]>('SkippedBackend').implement({
  fields: (t) => ({ backend: t.exposeString('backend'), reason: t.exposeString('reason') }),
});

const GpuLimitsRef = builder.objectRef<GpuAdapter['limits']>('GpuLimits').implement({
  description: 'The device limits that bound what fits on the adapter (bytes are Floats: they pass 2³¹).',
  fields: (t) => ({
    maxBufferSize: t.exposeFloat('maxBufferSize'),
    maxStorageBufferBindingSize: t.exposeFloat('maxStorageBufferBindingSize', {
      description: 'The largest buffer a shader can bind: the largest single tensor.',
    }),
    maxComputeWorkgroupStorageSize: t.exposeInt('maxComputeWorkgroupStorageSize'),
    maxComputeInvocationsPerWorkgroup: t.exposeInt('maxComputeInvocationsPerWorkgroup'),
    maxComputeWorkgroupsPerDimension: t.exposeInt('maxComputeWorkgroupsPerDimension'),
  }),
});

const GpuAdapterRef = builder.objectRef<GpuAdapter>('GpuAdapter').implement({
  description: 'The WebGPU adapter the webgpu backend runs on.',
  fields: (t) => ({
    vendor: t.exposeString('vendor'),
    architecture: t.exposeString('architecture'),
    device: t.exposeString('device'),
    description: t.exposeString('description'),
    software: t.exposeBoolean('software', {
      description: 'A CPU implementation (llvmpipe, SwiftShader): only used when GRAMIAN_BACKEND=webgpu asks for it.',
    }),
    limits: t.field({ type: GpuLimitsRef, resolve: (adapter) => adapter.limits }),
  }),
});

const EngineRef = builder.objectRef<EngineInfo>('Engine').implement({
  fields: (t) => ({
    backend: t.exposeString('backend', { description: 'tensorflow-gpu, webgpu, tensorflow, wasm or cpu.' }),
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
    adapter: t.field({
      type: GpuAdapterRef,
      nullable: true,
      description: 'The WebGPU adapter, on the webgpu backend.',
      resolve: (info) => info.adapter ?? null,
    }),
    maxOutputPixels: t.int({
      description: 'Largest Gatys output (width × height) this backend has memory for.',
      resolve: (info) => maxPixelsFor(info),
    }),
    maxFastOutputPixels: t.int({
      description: 'Largest fast-style output (width × height) this backend has memory for.',
      resolve: (info) => maxFastPixelsFor(info),
    }),
    maxOutputSide: t.int({
      description:
        "Longest output side a transfer may ask for (MAX_OUTPUT_SIDE), whole or tiled; the backend's memory may " +
        'bound a single pass lower (maxOutputPixels, maxFastOutputPixels).',
      resolve: (_info, _args, { config }) => config.maxOutputSide,
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
