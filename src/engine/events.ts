// What a job emits, in order: started, then step (every step) and preview (every N steps), then done. A Gatys run
// and a fast pass speak the same protocol, so the pool, the server and the CLI handle both alike.
import type { DownloadProgress } from './assets/download.js';

/** An encoded image (PNG, JPEG, …) with its type and size, as previews, checkpoints and results carry it. */
export interface EncodedImage {
  bytes: Uint8Array;
  mime: string;
  width: number;
  height: number;
}

export interface Losses {
  content: number;
  style: number;
  tv: number;
  total: number;
}

export interface StartedEvent {
  type: 'started';
  width: number;
  height: number;
  totalSteps: number;
  /** Longest side of each scale, coarse to fine. */
  scaleSizes: number[];
  backend: string;
}

export interface StepEvent {
  type: 'step';
  /** 1-based over the whole run (all scales). */
  step: number;
  totalSteps: number;
  /** 1-based scale index. */
  scale: number;
  contentLoss: number;
  styleLoss: number;
  tvLoss: number;
  totalLoss: number;
  /** Wall time of this step (objective, gradient and update). */
  ms: number;
  /**
   * At a scale refined in tiles (a Gatys run past the backend's single-pass limit, or with tileSize): the 1-based tile
   * this step optimised, the scale's tile count, and the 1-based pass over those tiles. Absent at a whole-image scale.
   */
  tile?: number;
  tiles?: number;
  pass?: number;
}

export interface PreviewEvent {
  type: 'preview';
  step: number;
  image: EncodedImage;
}

export interface DoneEvent {
  type: 'done';
  image: EncodedImage;
  /** Losses of the returned image (the last evaluated one). */
  losses: Losses;
  steps: number;
  ms: number;
  /**
   * How close the result came to its style and its content, measured with VGG19 (gatys/quality.ts); absent when the
   * run was not scored. `style` is null when the run has no style image to compare with (a fast model without one).
   */
  quality?: { style: number | null; content: number };
}

/**
 * The run after `step` steps, every `checkpointEvery` steps (the run goes on) and when a checkpoint stop was requested
 * (the run then ends as aborted). `state` is opaque to everyone but the engine: the image in full precision and the
 * optimiser's state (gatys/checkpoint.ts; store it as CHECKPOINT_MIME), which `params.resume = { state, step }`
 * continues exactly. About (2 × lbfgsHistory + 3) × 12 bytes per pixel with L-BFGS, 3 × 12 with Adam.
 */
export interface CheckpointEvent {
  type: 'checkpoint';
  step: number;
  state: Uint8Array;
}

/** Weights being fetched (or converted) on first use. */
export interface DownloadEvent extends DownloadProgress {
  type: 'download';
}

export type TransferEvent = StartedEvent | StepEvent | PreviewEvent | DoneEvent | CheckpointEvent | DownloadEvent;
