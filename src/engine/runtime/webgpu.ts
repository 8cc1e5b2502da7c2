// TensorFlow.js on WebGPU in Node: Dawn (Chrome's WebGPU, npm `webgpu`) over Vulkan on Linux, Metal on macOS and
// D3D12 on Windows, so that `npm ci` alone gives a GPU engine on any vendor. A software adapter (llvmpipe,
// SwiftShader) is much slower than wasm and is only used when asked for by name.
import * as tf from '@tensorflow/tfjs';
import os from 'node:os';
import type { GpuAdapter } from './backend-info.js';

/** What tfjs's WebGPU backend holds: the device, whose `lost` promise says when the GPU went away. */
interface WebgpuBackendLike {
  device: { lost: Promise<{ reason: string; message: string }>; destroy(): void };
}

/** The Dawn device limits that bound what the engine can compute, as the adapter reports them. */
const LIMITS = [
  'maxBufferSize',
  'maxStorageBufferBindingSize',
  'maxComputeWorkgroupStorageSize',
  'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupsPerDimension',
] as const;

function isSoftware(info: { architecture: string; description: string; isFallbackAdapter?: boolean }): boolean {
  return (
    info.isFallbackAdapter === true ||
    info.architecture === 'software' ||
    /llvmpipe|lavapipe|swiftshader|softpipe/i.test(info.description)
  );
}

/** The platform's native API for Dawn: Vulkan on Linux (the default picks nothing there), the default elsewhere. */
function dawnFlags(): string[] {
  return os.platform() === 'linux' ? ['backend=vulkan'] : [];
}

/**
 * Loads Dawn and the tfjs WebGPU backend and makes it current. Throws, with the reason, when the packages are
 * missing, no adapter is found (no Vulkan loader or driver), or the adapter is software and `allowSoftware` is off.
 */
export async function loadWebgpu(allowSoftware: boolean): Promise<GpuAdapter> {
  // Dawn warns on every device when this names no folder; it only holds its caches.
  if (!process.env.XDG_RUNTIME_DIR) process.env.XDG_RUNTIME_DIR = os.tmpdir();
  const dawn = await import('webgpu');
  Object.assign(globalThis, dawn.globals);
  const gpu = dawn.create(dawnFlags());
  Object.defineProperty(globalThis, 'navigator', {
    value: { ...(globalThis.navigator ?? {}), gpu, userAgent: 'node' },
    configurable: true,
    writable: true,
  });
  const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  if (!adapter) throw new Error('no WebGPU adapter (is a Vulkan loader and driver installed? see the README)');
  const info = adapter.info as unknown as {
    vendor: string;
    architecture: string;
    device: string;
    description: string;
    isFallbackAdapter?: boolean;
  };
  const found: GpuAdapter = {
    vendor: info.vendor,
    architecture: info.architecture,
    device: info.device,
    description: info.description,
    software: isSoftware(info),
    limits: Object.fromEntries(LIMITS.map((name) => [name, Number(adapter.limits[name])])) as GpuAdapter['limits'],
  };
  if (found.software && !allowSoftware) {
    throw new Error(
      `only a software adapter (${found.description}): slower than wasm; GRAMIAN_BACKEND=webgpu uses it anyway`,
    );
  }
  await import('@tensorflow/tfjs-backend-webgpu');
  if (!(await tf.setBackend('webgpu'))) throw new Error('the webgpu backend did not initialise');
  return found;
}

/** Resolves when the GPU device is lost (a driver reset, the GPU removed, the device destroyed). */
export function deviceLost(): Promise<{ reason: string; message: string }> {
  return (tf.backend() as unknown as WebgpuBackendLike).device.lost;
}

/** Destroys the device, as a driver reset would: a fault for tests to inject (see GRAMIAN_FAULT_DEVICE_LOSS). */
export function destroyDevice(): void {
  (tf.backend() as unknown as WebgpuBackendLike).device.destroy();
}
