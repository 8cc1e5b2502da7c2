// Full-precision checkpoints of a Gatys run: the image being optimised and the optimiser's whole state, in float32
// as they are on the backend, so that a resumed run takes exactly the step the interrupted one would have taken.
//
// Format (version 1), little-endian:
//   bytes 0–7   magic "GRMNCKPT"
//   bytes 8–11  u32 format version
//   bytes 12–15 u32 length H of the header
//   16…16+H     header: UTF-8 JSON of CheckpointState in which every tensor is { "f32": offset, "shape": [...] }
//               (offset in float32 elements into the payload)
//   then zero padding to a multiple of 4 bytes, then the payload: every tensor's float32 values, one after another.
// Plain numbers (the step, L-BFGS curvatures, Adam's t) travel in the JSON, which keeps a float64 exactly.
import { createHash } from 'node:crypto';
import { EngineInputError } from '../errors.js';
import type { Optimizer, ResolvedTransferParams } from './params.js';

/**
 * Steps between periodic checkpoints on the server (CHECKPOINT_EVERY; 0 = off). `npm run bench:checkpoint` on wasm,
 * 2 threads (AMD EPYC, 2 cores), L-BFGS with its 20 pairs held (the largest state, 43 image-sized tensors):
 *
 *   size      step     state    read back + encode   SHA-256 (the store's)   decode + import (a resume)
 *   256×192   1.95 s   24 MB    50 ms (2.6% of a step)   15 ms               14 ms
 *   512×384   14.9 s   97 MB    107 ms (0.7%)            58 ms               63 ms
 *
 * So even a checkpoint every step would cost the run under 5% here; what bounds the rate is the server writing tens of
 * MB to its store each time. Every 20 steps: the engine's share is 0.13% (256²) / 0.04% (512²) of the run, and the
 * server's hashing and writing of each may take up to 1.9 s (256²) / 15 s (512²) before checkpoints cost 5%; a crash
 * loses at most 20 steps (40 s at 256², 5 min at 512²). A GPU backend steps 10–100× faster while the state stays as
 * large: raise it there.
 */
export const DEFAULT_CHECKPOINT_EVERY = 20;

/** Stored as an object of this type, so that a store can tell a checkpoint from an image. */
export const CHECKPOINT_MIME = 'application/x-gramian-checkpoint';
export const CHECKPOINT_VERSION = 1;
const MAGIC = 'GRMNCKPT';
const PREAMBLE_BYTES = 16;

/** A tensor's values read back from the backend. */
export interface SavedTensor {
  shape: number[];
  data: Float32Array;
}

/** Lbfgs's state (lbfgs.ts): its curvature pairs, oldest first, and what its next step reads. */
export interface LbfgsState {
  kind: 'lbfgs';
  steps: SavedTensor[];
  gradientChanges: SavedTensor[];
  curvatures: number[];
  previousGradient?: SavedTensor;
  direction?: SavedTensor;
  stepScale: number;
  hessianDiagonal: number;
}

/** Adam's state (adam.ts): its moments (absent before the first step) and its step count. */
export interface AdamState {
  kind: 'adam';
  t: number;
  firstMoment?: SavedTensor;
  secondMoment?: SavedTensor;
}

export type OptimizerState = LbfgsState | AdamState;

/** What a checkpoint must share with the params that resume it: what sizes its tensors and gives them meaning. */
export interface CheckpointIdentity {
  size: number;
  scales: number;
  steps: number;
  optimizer: Optimizer;
  lbfgsHistory: number;
  preserveColors: boolean;
  /** SHA-256 of the content image's bytes, and of each style image's. */
  content: string;
  styles: string[];
}

export interface CheckpointState {
  /** Steps done over the whole run (all scales). */
  step: number;
  /** 0-based scale the image belongs to. */
  scale: number;
  /** The image being optimised, in VGG space, [1, height, width, 3]: at a tiled scale, the whole image. */
  image: SavedTensor;
  /** The optimiser's state: at a tiled scale, that of the tile being optimised. */
  optimizer: OptimizerState;
  identity: CheckpointIdentity;
  /**
   * At a tiled scale: the tile being optimised (0-based index and pass), its pixels, and the whole image as the pass
   * found it (the tiles of a pass are blended against it).
   */
  tile?: { index: number; pass: number; image: SavedTensor; base: SavedTensor };
  /** The run's scales and tiles (tiling.ts planSignature), when any scale is tiled: a resume must cut them alike. */
  plan?: string;
}

/** Checks a run's checkpointEvery option (absent: 0, off). */
export function checkCheckpointEvery(every: number | undefined): number {
  if (every === undefined) return 0;
  if (!Number.isInteger(every) || every < 0)
    throw new EngineInputError('checkpointEvery', `must be an integer ≥ 0, got ${every}`, '0 (off) or a step count');
  return every;
}

function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** The identity of a run with these params. */
export function checkpointIdentity(params: ResolvedTransferParams): CheckpointIdentity {
  return {
    size: params.size,
    scales: params.scales,
    steps: params.steps,
    optimizer: params.optimizer,
    lbfgsHistory: params.lbfgsHistory,
    preserveColors: params.preserveColors,
    content: sha256(params.content),
    styles: params.styles.map((style) => sha256(style.image)),
  };
}

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function isSavedTensor(value: unknown): value is SavedTensor {
  return typeof value === 'object' && value !== null && (value as SavedTensor).data instanceof Float32Array;
}

/** The checkpoint as bytes; the result owns its ArrayBuffer whole, so that it can be transferred between threads. */
export function encodeCheckpoint(state: CheckpointState): Uint8Array {
  const tensors: Float32Array[] = [];
  let floats = 0;
  const header = JSON.stringify(state, (_key, value: unknown) => {
    if (!isSavedTensor(value)) return value;
    tensors.push(value.data);
    floats += value.data.length;
    return { f32: floats - value.data.length, shape: value.shape };
  });
  const headerBytes = new TextEncoder().encode(header);
  const payloadStart = Math.ceil((PREAMBLE_BYTES + headerBytes.length) / 4) * 4;
  const bytes = new Uint8Array(payloadStart + floats * 4);
  const view = new DataView(bytes.buffer);
  bytes.set(new TextEncoder().encode(MAGIC), 0);
  view.setUint32(8, CHECKPOINT_VERSION, true);
  view.setUint32(12, headerBytes.length, true);
  bytes.set(headerBytes, PREAMBLE_BYTES);
  let at = payloadStart;
  for (const data of tensors) {
    if (LITTLE_ENDIAN) bytes.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), at);
    else data.forEach((value, i) => view.setFloat32(at + 4 * i, value, true));
    at += data.byteLength;
  }
  return bytes;
}

/**
 * The state in a checkpoint, its structure checked; EngineInputError naming `field` when the bytes are not a
 * checkpoint this version reads.
 */
export function decodeCheckpoint(bytes: Uint8Array, field = 'resume.state'): CheckpointState {
  const invalid = (why: string) => new EngineInputError(field, why, 'the state of a checkpoint event');
  if (!(bytes instanceof Uint8Array) || bytes.byteLength < PREAMBLE_BYTES)
    throw invalid('empty or too short to be a checkpoint');
  if (new TextDecoder().decode(bytes.subarray(0, MAGIC.length)) !== MAGIC) throw invalid('is not a Gramian checkpoint');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const version = view.getUint32(8, true);
  if (version !== CHECKPOINT_VERSION) {
    throw new EngineInputError(field, `checkpoint format version ${version} is not readable here`, 'version 1');
  }
  const headerLength = view.getUint32(12, true);
  const payloadStart = Math.ceil((PREAMBLE_BYTES + headerLength) / 4) * 4;
  if (payloadStart > bytes.byteLength) throw invalid('is truncated (its header runs past its end)');
  const payloadFloats = (bytes.byteLength - payloadStart) / 4;
  let parsed: unknown;
  try {
    const header = new TextDecoder('utf-8', { fatal: true }).decode(
      bytes.subarray(PREAMBLE_BYTES, PREAMBLE_BYTES + headerLength),
    );
    parsed = JSON.parse(header, (_key, value: unknown) => {
      if (typeof value !== 'object' || value === null || !('f32' in value)) return value;
      const { f32: offset, shape } = value as { f32: unknown; shape: unknown };
      if (!Array.isArray(shape) || !shape.every((n) => Number.isInteger(n) && (n as number) >= 0))
        throw invalid('has a tensor with an invalid shape');
      const length = (shape as number[]).reduce((a, b) => a * b, 1);
      if (!Number.isInteger(offset) || (offset as number) < 0 || (offset as number) + length > payloadFloats)
        throw invalid('is truncated (a tensor runs past its end)');
      const start = payloadStart + (offset as number) * 4;
      const data = new Float32Array(length);
      if (LITTLE_ENDIAN) new Uint8Array(data.buffer).set(bytes.subarray(start, start + length * 4));
      else for (let i = 0; i < length; i++) data[i] = view.getFloat32(start + 4 * i, true);
      return { shape: shape as number[], data } satisfies SavedTensor;
    }) as unknown;
  } catch (error) {
    if (error instanceof EngineInputError) throw error;
    throw invalid(`has an unreadable header (${(error as Error).message})`);
  }
  return checkStructure(parsed, invalid);
}

function checkStructure(value: unknown, invalid: (why: string) => EngineInputError): CheckpointState {
  const state = value as CheckpointState;
  const isCount = (n: unknown) => Number.isInteger(n) && (n as number) >= 0;
  const isNumber = (n: unknown) => typeof n === 'number' && Number.isFinite(n);
  if (typeof state !== 'object' || state === null) throw invalid('has no state in its header');
  if (!isCount(state.step) || !isCount(state.scale)) throw invalid('has no valid step or scale');
  const image = state.image;
  if (!isSavedTensor(image) || image.shape.length !== 4 || image.shape[0] !== 1 || image.shape[3] !== 3)
    throw invalid('has no image of shape [1, height, width, 3]');
  const identity = state.identity;
  if (
    typeof identity !== 'object' ||
    identity === null ||
    !['size', 'scales', 'steps', 'lbfgsHistory'].every((key) => isCount(identity[key as keyof CheckpointIdentity])) ||
    typeof identity.content !== 'string' ||
    !Array.isArray(identity.styles)
  )
    throw invalid('has no valid run identity');
  const tile = state.tile;
  if (
    tile !== undefined &&
    (typeof tile !== 'object' ||
      tile === null ||
      !isCount(tile.index) ||
      !isCount(tile.pass) ||
      !isSavedTensor(tile.image) ||
      tile.image.shape.length !== 4 ||
      tile.image.shape[3] !== 3 ||
      !isSavedTensor(tile.base) ||
      tile.base.shape.join() !== image.shape.join() ||
      typeof state.plan !== 'string')
  )
    throw invalid('has an invalid tile');
  // Every tensor of the optimiser has the shape of what it optimises: the image, or at a tiled scale the tile.
  const optimised = tile ? tile.image : image;
  const sameShape = (t: unknown) => isSavedTensor(t) && t.shape.join() === optimised.shape.join();
  const optional = (t: unknown) => t === undefined || sameShape(t);
  const optimizer = state.optimizer;
  if (optimizer?.kind === 'lbfgs') {
    const pairs = optimizer.steps;
    if (
      !Array.isArray(pairs) ||
      !Array.isArray(optimizer.gradientChanges) ||
      !Array.isArray(optimizer.curvatures) ||
      optimizer.gradientChanges.length !== pairs.length ||
      optimizer.curvatures.length !== pairs.length ||
      ![...pairs, ...optimizer.gradientChanges].every(sameShape) ||
      !optimizer.curvatures.every(isNumber) ||
      !optional(optimizer.previousGradient) ||
      !optional(optimizer.direction) ||
      !isNumber(optimizer.stepScale) ||
      !isNumber(optimizer.hessianDiagonal)
    )
      throw invalid('has an invalid L-BFGS state');
  } else if (optimizer?.kind === 'adam') {
    if (!isCount(optimizer.t) || !optional(optimizer.firstMoment) || !optional(optimizer.secondMoment))
      throw invalid('has an invalid Adam state');
  } else {
    throw invalid('has no optimiser state of a known kind (lbfgs, adam)');
  }
  if (optimizer.kind !== identity.optimizer)
    throw invalid(`holds an ${optimizer.kind} state for ${identity.optimizer}`);
  return state;
}

/**
 * Refuses a checkpoint that another run made: EngineInputError on `resume.state` listing what differs. `expectedAt`
 * gives the image shape these params have where the checkpoint was taken, or why the checkpoint cannot be there.
 */
export function checkCheckpointBelongs(
  state: CheckpointState,
  identity: CheckpointIdentity,
  expectedAt: (state: CheckpointState) => number[] | string,
): void {
  const differs: string[] = [];
  for (const key of ['size', 'scales', 'steps', 'optimizer', 'lbfgsHistory', 'preserveColors'] as const) {
    if (state.identity[key] !== identity[key]) differs.push(`${key} ${state.identity[key]} ≠ ${identity[key]}`);
  }
  if (state.identity.content !== identity.content) differs.push('another content image');
  if (state.identity.styles.join() !== identity.styles.join()) differs.push('other style images');
  if (differs.length > 0) {
    throw new EngineInputError(
      'resume.state',
      `the checkpoint belongs to another run (checkpoint ≠ these params: ${differs.join('; ')})`,
      'a checkpoint of a run with the same images, size, scales, steps and optimiser',
    );
  }
  const expected = expectedAt(state);
  if (typeof expected === 'string') throw new EngineInputError('resume.state', expected);
  if (state.image.shape.join() !== expected.join()) {
    throw new EngineInputError(
      'resume.state',
      `its image is ${state.image.shape[2]}×${state.image.shape[1]}, ` +
        `these params give ${expected[2]}×${expected[1]} at scale ${state.scale + 1}`,
    );
  }
}
