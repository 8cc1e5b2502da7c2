// A job for the engine: a Gatys transfer or a fast-style pass. One shape, `{ kind, params }`, from the public API
// through the worker protocol to the run manager; each layer switches on `kind` in one place.
import { EngineInputError } from './errors.js';
import { resolveFastParams, type StylizeParams } from './fast-style/fast-params.js';
import { checkModelSource } from './fast-style/model-source.js';
import { resolveTransferParams, type TransferParams } from './gatys/params.js';

export const JOB_KINDS = ['GATYS', 'FAST'] as const;
export type JobKind = (typeof JOB_KINDS)[number];

/** What every job may say besides its parameters. */
interface JobOptions {
  /**
   * Score the result with VGG19 at the end of a successful run (DoneEvent.quality; gatys/quality.ts). Default true;
   * false for passes whose result is not a run's (a style model's preview).
   */
  quality?: boolean;
}

/** Optimise the pixels through VGG19 (Gatys et al.). */
export interface GatysJob extends JobOptions {
  kind: 'GATYS';
  params: TransferParams;
}

/** One pass of a trained feed-forward style network. */
export interface FastJob extends JobOptions {
  kind: 'FAST';
  params: StylizeParams;
  /**
   * The painting the model was trained on, encoded (JPEG, PNG, …), if known: the quality score then has a style part
   * (measured against it); without it, a fast run's score has only the content part.
   */
  styleReference?: Uint8Array;
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
  if (job.quality !== undefined && typeof job.quality !== 'boolean')
    throw new EngineInputError('quality', `must be true or false, got ${String(job.quality)}`, 'true, false');
  switch (job.kind) {
    case 'GATYS':
      resolveTransferParams(job.params);
      return;
    case 'FAST':
      resolveFastParams(job.params);
      checkModelSource(job.params?.model);
      if (
        job.styleReference !== undefined &&
        (!(job.styleReference instanceof Uint8Array) || job.styleReference.byteLength === 0)
      ) {
        throw new EngineInputError(
          'styleReference',
          'empty or not the bytes of an image',
          'a non-empty JPEG, PNG, WebP, GIF, TIFF or AVIF file, or none',
        );
      }
      return;
    default: {
      const unknown: never = job;
      const kind = String((unknown as { kind?: unknown }).kind);
      throw new EngineInputError('kind', `unknown job kind "${kind}"`, JOB_KINDS.join(', '));
    }
  }
}
