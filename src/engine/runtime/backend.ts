// Picks the fastest TensorFlow.js backend that loads on this machine and says why the others were skipped.
// Order: native TensorFlow with GPU, WebGPU on a hardware adapter (Dawn: Vulkan, Metal, D3D12), native TensorFlow on
// CPU, WebAssembly (SIMD, threads when available), plain JS.
import * as tf from '@tensorflow/tfjs';
import os from 'node:os';
import { BACKEND_CHOICES, type BackendChoice } from './backend-choice.js';
import { BackendUnavailableError } from '../errors.js';
import type { BackendInfo, GpuAdapter } from './backend-info.js';
import { registerThreadedWasm } from './wasm-threads.js';
import { loadWebgpu } from './webgpu.js';

export type { BackendInfo, GpuAdapter };

export interface BackendOptions {
  /** `auto` (default) or one of BACKEND_CHOICES; a forced choice that fails is an error, not a fallback. */
  backend?: BackendChoice | 'auto';
  /** Wasm threads (default: all cores; 1 = the stock single-threaded module). */
  threads?: number;
  log?: (message: string) => void;
}

let current: BackendInfo | undefined;

async function loadTensorflow(pkg: '@tensorflow/tfjs-node-gpu' | '@tensorflow/tfjs-node'): Promise<void> {
  await import(pkg);
  if (!(await tf.setBackend('tensorflow'))) throw new Error('the tensorflow backend did not initialise');
}

async function loadWasm(threads: number, log: (message: string) => void): Promise<{ simd: boolean; threads: number }> {
  const wasm = await import('@tensorflow/tfjs-backend-wasm');
  if (threads > 1) {
    try {
      await registerThreadedWasm(threads);
    } catch (error) {
      log(`wasm threads unavailable, using one thread: ${reasonOf(error)}`);
    }
  }
  if (tf.getBackend() !== 'wasm' && !(await tf.setBackend('wasm')))
    throw new Error('the wasm backend did not initialise');
  const simd = Boolean(await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT'));
  return { simd, threads: wasm.getThreadsCount() };
}

async function loadCpu(): Promise<void> {
  // The cpu backend ships with @tensorflow/tfjs.
  if (!(await tf.setBackend('cpu'))) throw new Error('the cpu backend did not initialise');
}

function reasonOf(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  if (/Cannot find (package|module)/.test(message)) return 'package not installed';
  return message.split('\n')[0] ?? message;
}

/** Initialises the backend once per thread and returns what was chosen. */
export async function initBackend(options: BackendOptions = {}): Promise<BackendInfo> {
  if (current) return current;
  const wanted = options.backend ?? 'auto';
  const log = options.log ?? (() => {});
  const order: BackendChoice[] = wanted === 'auto' ? [...BACKEND_CHOICES] : [wanted];
  const skipped: BackendInfo['skipped'] = [];
  const cores = os.availableParallelism?.() ?? os.cpus().length;
  for (const backend of order) {
    try {
      let simd = false;
      let threads = 1;
      let adapter: GpuAdapter | undefined;
      if (backend === 'tensorflow-gpu') await loadTensorflow('@tensorflow/tfjs-node-gpu');
      // A software adapter only when asked for by name: chosen by `auto` it would be slower than wasm.
      else if (backend === 'webgpu') adapter = await loadWebgpu(wanted === 'webgpu');
      else if (backend === 'tensorflow') await loadTensorflow('@tensorflow/tfjs-node');
      else if (backend === 'wasm') ({ simd, threads } = await loadWasm(options.threads ?? cores, log));
      else await loadCpu();
      if (backend.startsWith('tensorflow')) threads = cores;
      await tf.ready();
      current = {
        backend,
        tfBackend: tf.getBackend(),
        gpu: backend === 'tensorflow-gpu' || (adapter !== undefined && !adapter.software),
        tfjsVersion: tf.version_core,
        threads,
        simd,
        ...(adapter ? { adapter } : {}),
        skipped,
      };
      return current;
    } catch (error) {
      const reason = reasonOf(error);
      skipped.push({ backend, reason });
      log(`backend ${backend} skipped: ${reason}`);
    }
  }
  const tried = skipped.map((s) => `${s.backend}: ${s.reason}`).join('; ');
  throw new BackendUnavailableError(`no TensorFlow.js backend could be loaded (${tried})`);
}
