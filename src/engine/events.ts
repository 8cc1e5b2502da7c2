// What a transfer emits, in order: started, then step (every step) and preview (every N steps), then done.

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
}

export interface PreviewEvent {
  type: 'preview';
  step: number;
  bytes: Uint8Array;
  mime: string;
  width: number;
  height: number;
}

export interface DoneEvent {
  type: 'done';
  image: Uint8Array;
  mime: string;
  width: number;
  height: number;
  /** Losses of the returned image (the last evaluated one). */
  losses: Losses;
  steps: number;
  ms: number;
}

/** The image after `step` steps, saved when a checkpoint was requested; the run then ends as aborted. */
export interface CheckpointEvent {
  type: 'checkpoint';
  step: number;
  image: Uint8Array;
  mime: string;
  width: number;
  height: number;
}

/** Weights being fetched on first use. */
export interface DownloadEvent {
  type: 'download';
  stage: 'download' | 'convert';
  receivedBytes: number;
  totalBytes?: number;
}

export type TransferEvent = StartedEvent | StepEvent | PreviewEvent | DoneEvent | CheckpointEvent | DownloadEvent;
