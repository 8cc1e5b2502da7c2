// Registers the wasm backend with XNNPACK threads in Node, where the stock package runs one thread.
// The stock init refuses threads in Node (tfjs issue 3830) and hands Emscripten blob: URLs that Node's Worker
// cannot load. Here we build the threaded Emscripten module ourselves with file paths, then register the
// package's own BackendWasm under the name 'wasm' so every wasm kernel applies unchanged. Nothing in
// node_modules is modified. test/engine-backend.test.ts fails if this stops giving the threads asked for.
import * as tf from '@tensorflow/tfjs';
import * as wasmPackage from '@tensorflow/tfjs-backend-wasm';
import { mkdirSync, renameSync, writeFileSync, existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';

const require = createRequire(import.meta.url);

/** Shared wasm memory reserved up front: a threaded module that has to grow its memory mid-run can stall. */
const DEFAULT_INITIAL_MEMORY = 4 * 1024 ** 3 - 65536;

interface EmscriptenModule {
  cwrap(name: string, returnType: string | null, argTypes: string[]): (...args: number[]) => number;
  tfjs?: Record<string, unknown>;
}
type WasmFactory = (config: Record<string, unknown>) => Promise<EmscriptenModule>;

function packageDir(): string {
  return path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json'));
}

/** The pthread worker script as a real file: Node's Worker takes a path, not the blob: URL the package builds. */
function writePthreadWorker(dir: string): string {
  const { wasmWorkerContents } = require(path.join(dir, 'wasm-out/tfjs-backend-wasm-threaded-simd.worker.js')) as {
    wasmWorkerContents: string;
  };
  const folder = path.join(os.tmpdir(), `gramian-tfjs-wasm-${wasmPackage.version_wasm}`);
  const file = path.join(folder, 'pthread-worker.cjs');
  if (existsSync(file)) return file;
  mkdirSync(folder, { recursive: true });
  // The contents are a template literal whose "\n" escapes became newlines inside string literals: escape them
  // again, as the package does before making its Blob.
  const temporary = `${file}.${process.pid}.${Math.random().toString(36).slice(2)}`;
  writeFileSync(temporary, wasmWorkerContents.replace(/\n/g, '\\n'));
  renameSync(temporary, file);
  return file;
}

/**
 * Replaces the registered 'wasm' backend with a threaded one. Call before tf.setBackend('wasm').
 * XNNPACK sizes its pool as (logical cores / 2); the module asks os.cpus() once, while it starts, so we answer
 * with twice the threads wanted for that moment only.
 */
export async function registerThreadedWasm(threads: number, initialMemory = DEFAULT_INITIAL_MEMORY): Promise<void> {
  const dir = packageDir();
  const factoryPath = path.join(dir, 'wasm-out/tfjs-backend-wasm-threaded-simd.js');
  const wasmPath = path.join(dir, 'wasm-out/tfjs-backend-wasm-threaded-simd.wasm');
  const workerPath = writePthreadWorker(dir);
  const factory = require(factoryPath) as WasmFactory;
  const realCpus = os.cpus;
  const oneCpu = realCpus()[0]!;
  os.cpus = () => Array.from({ length: threads * 2 }, () => oneCpu);
  try {
    const module = await factory({
      locateFile: (file: string, prefix: string) =>
        file.endsWith('.worker.js') ? workerPath : file.endsWith('.wasm') ? wasmPath : prefix + file,
      mainScriptUrlOrBlob: factoryPath,
      INITIAL_MEMORY: Math.ceil(initialMemory / 65536) * 65536,
    });
    // The same C entry points the package's own init wraps.
    module.tfjs = {
      init: module.cwrap('init', null, []),
      initWithThreadsCount: module.cwrap('init_with_threads_count', null, ['number']),
      getThreadsCount: module.cwrap('get_threads_count', 'number', []),
      registerTensor: module.cwrap('register_tensor', null, ['number', 'number', 'number']),
      disposeData: module.cwrap('dispose_data', null, ['number']),
      dispose: module.cwrap('dispose', null, []),
    };
    wasmPackage.setThreadsCount(threads);
    tf.removeBackend('wasm');
    tf.registerBackend('wasm', () => new wasmPackage.BackendWasm(module as never), 2);
    if (!(await tf.setBackend('wasm'))) throw new Error('threaded wasm backend did not initialise');
  } finally {
    os.cpus = realCpus;
  }
}
