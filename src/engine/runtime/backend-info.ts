// What a worker's backend is, as the main thread and the API see it: plain data, no tensors.
import type { BackendChoice } from './backend-choice.js';

/** A WebGPU adapter: who made it, whether it is software, and the limits that bound what fits on it. */
export interface GpuAdapter {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  /** A CPU implementation (llvmpipe, SwiftShader): correct, but slower than wasm. */
  software: boolean;
  limits: {
    maxBufferSize: number;
    maxStorageBufferBindingSize: number;
    maxComputeWorkgroupStorageSize: number;
    maxComputeInvocationsPerWorkgroup: number;
    maxComputeWorkgroupsPerDimension: number;
  };
}

export interface BackendInfo {
  /** Which of BACKEND_CHOICES is running. */
  backend: BackendChoice;
  /** The tfjs backend name (`tensorflow`, `webgpu`, `wasm`, `cpu`). */
  tfBackend: string;
  gpu: boolean;
  tfjsVersion: string;
  /** Threads the backend computes with (CPU backends). */
  threads: number;
  simd: boolean;
  /** The WebGPU adapter, on the webgpu backend. */
  adapter?: GpuAdapter;
  /** Backends tried before this one, with the reason each was skipped. */
  skipped: { backend: BackendChoice; reason: string }[];
}

/** What bounds a backend's largest output: its name, and on WebGPU its adapter's buffer limits. */
export type BackendLimits = Pick<BackendInfo, 'tfBackend' | 'adapter'>;

/** The largest buffer a WebGPU shader can bind on this adapter: the largest tensor it can compute. */
export function largestBuffer(adapter: GpuAdapter): number {
  return Math.min(adapter.limits.maxStorageBufferBindingSize, adapter.limits.maxBufferSize);
}
