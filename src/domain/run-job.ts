// The engine job for a stored run: its parameters as stored, its images read back from the store, its checkpoint to
// resume from, and for a FAST run its style model (fetched first when it is not on disk yet) and the painting it was
// trained on, if one is attached (for the quality score).
import {
  CHECKPOINT_MIME,
  ModelMissingError,
  type ResumeFrom,
  type DownloadProgress,
  type FastOptions,
  type GatysOptions,
  type Job,
} from '../engine/index.js';
import type { ImageStore } from '../storage/image-store.js';
import type { RunForJob } from './run-transitions.js';
import { modelSource, type StyleModelServices } from './style-models.js';

export interface RunJobServices {
  images: ImageStore;
  /** Where FAST runs find their style models. */
  models: Pick<StyleModelServices, 'modelsDir' | 'allowDownload' | 'env'>;
}

/** The engine's full state (image in full precision and optimiser), or a PNG left by an older version. */
async function resumeFrom(
  images: ImageStore,
  id: string,
  step: number,
  stored: { mime: string } | null,
): Promise<ResumeFrom> {
  const bytes = await images.read(id);
  return stored?.mime === CHECKPOINT_MIME ? { state: bytes, step } : { image: bytes, step };
}

export async function jobOfRun(
  services: RunJobServices,
  run: RunForJob,
  /** Progress of a model download the run waits for. */
  onDownload: (progress: DownloadProgress) => void,
  /** Stops that download (a run canceled while it waits for its model). */
  signal: AbortSignal,
): Promise<Job> {
  const { images } = services;
  const content = await images.read(run.contentImageId);
  switch (run.engine) {
    case 'GATYS':
      return {
        kind: 'GATYS',
        params: {
          ...(run.params as Partial<GatysOptions>),
          content,
          styles: await Promise.all(
            run.styles.map(async (s) => ({ image: await images.read(s.imageId), weight: s.weight })),
          ),
          ...(run.checkpointImageId && run.checkpointStep !== null
            ? { resume: await resumeFrom(images, run.checkpointImageId, run.checkpointStep, run.checkpointImage) }
            : {}),
        },
      };
    case 'FAST': {
      const { styleModel: name, ...options } = run.params as Partial<FastOptions> & { styleModel?: string };
      if (!run.styleModel) {
        throw new ModelMissingError(name ?? '', `the style model of this run (${name}) has been deleted`);
      }
      const model = await modelSource(services.models, run.styleModel, onDownload, signal);
      // The painting the model was trained on, if one is attached: the run's quality score gets a style part.
      const { styleImageId } = run.styleModel;
      const styleReference = styleImageId ? await images.read(styleImageId) : undefined;
      return { kind: 'FAST', params: { ...options, content, model }, ...(styleReference ? { styleReference } : {}) };
    }
  }
}
