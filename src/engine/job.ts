// A job for the engine: a Gatys transfer or a fast-style pass. One shape, `{ kind, params }`, from the public API
// through the worker protocol to the run manager; each layer switches on `kind` in one place.
import { EngineInputError } from './errors.js';
import { resolveFastParams, type StylizeParams } from './fast-style/fast-params.js';
import { checkModelSource } from './fast-style/model-source.js';
import { resolveTransferParams, type TransferParams } from './gatys/params.js';

export const JOB_KINDS = ['GATYS', 'FAST'] as const;
export type JobKind = (typeof JOB_KINDS)[number];

/** Optimise the pixels through VGG19 (Gatys et al.). */
export interface GatysJob {
  kind: 'GATYS';
  params: TransferParams;
}

/** One pass of a trained feed-forward style network. */
export interface FastJob {
  kind: 'FAST';
  params: StylizeParams;
}

export type Job = GatysJob | FastJob;

/** What a running job is asked before each step: stop, or save a checkpoint and then stop. */
export type StopRequest = 'abort' | 'checkpoint';

/**
 * Checks a job before it is queued: its parameters (EngineInputError) and, for a fast pass, the model's description
 * (StyleModelError). Images and model files are checked by the worker, before any tensor work.
 */
export function checkJob(job: Job): void {
  if (job === null || typeof job !== 'object')
    throw new EngineInputError('job', 'must be { kind, params }', JOB_KINDS.join(', '));
  switch (job.kind) {
    case 'GATYS':
      resolveTransferParams(job.params);
      return;
    case 'FAST':
      resolveFastParams(job.params);
      checkModelSource(job.params?.model);
      return;
    default: {
      const unknown: never = job;
      const kind = String((unknown as { kind?: unknown }).kind);
      throw new EngineInputError('kind', `unknown job kind "${kind}"`, JOB_KINDS.join(', '));
    }
  }
}
