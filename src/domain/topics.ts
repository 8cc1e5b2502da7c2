// Typed pub/sub topics: what subscribers of one run and of the whole queue receive. Everything published here has
// been written to the database first.
import { setMaxListeners } from 'node:events';
import { createPubSub } from 'graphql-yoga';
import type { FinishedStatus, RunStatus } from './run-status.js';

export interface RunStepRecord {
  runId: string;
  step: number;
  scale: number;
  contentLoss: number;
  styleLoss: number;
  tvLoss: number;
  totalLoss: number;
  ms: number;
  /** At a tiled scale: the 1-based tile and the scale's tile count (null at a whole-image scale). */
  tile: number | null;
  tiles: number | null;
}

export type RunEvent =
  | { kind: 'status'; runId: string; status: RunStatus; queuePosition: number | null }
  | { kind: 'step'; runId: string; step: RunStepRecord; totalSteps: number }
  | { kind: 'preview'; runId: string; step: number; imageId: string; dataUrl: string }
  /** Weights or a style model being fetched before the run can start computing (progress only, not stored). */
  | { kind: 'download'; runId: string; receivedBytes: number; totalBytes: number | null }
  /** The run reached a final status; its subscription completes after this. */
  | { kind: 'end'; runId: string; status: FinishedStatus };

/** A run was queued, started, or finished: the dashboard's view of the queue. */
export interface RunsChange {
  /** The run that changed, and whose it is: subscribers see only their own runs (admins every run). */
  run: { id: string; owner: string };
  status: RunStatus;
  /** Queued runs, next first (each subscriber sees its own, in their order). */
  queue: { id: string; owner: string }[];
}

/**
 * The topics, on an in-process EventTarget (the embedded mode) or on Redis (a cluster: src/cluster/event-target.ts),
 * so that a subscriber on one node gets what a worker on another publishes.
 */
export function createTopics(eventTarget?: EventTarget) {
  // Every subscriber of a run listens on one EventTarget topic: hundreds are normal, not a leak.
  const target = eventTarget ?? new EventTarget();
  if (!eventTarget) setMaxListeners(0, target);
  return createPubSub<{
    run: [runId: string, event: RunEvent];
    runs: [change: RunsChange];
    /** cancelRun for a run that a worker (on any node) is running: that worker stops it within one step. */
    cancel: [runId: string];
  }>({ eventTarget: target });
}

export type Topics = ReturnType<typeof createTopics>;
