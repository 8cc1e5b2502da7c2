// Starting a transfer: everything the request names is checked (content, styles, preset, parameters, size for
// the backend) before anything is written; then the content image, the run and its styles are stored and queued.
import { LIMITS, fitLongestSide, largestSideWithin, resolveGatysOptions } from '../engine/index.js';
import { InputError, NotFoundError } from '../errors.js';
import type { Db } from '../storage/db.js';
import type { Prisma, Run } from '../storage/generated/client.ts';
import type { CheckedImage, ImageStore } from '../storage/image-store.js';
import { toInputError, validatePresetParams, type PresetParams } from './presets.js';
import type { RunManager } from './run-manager.js';

export interface StartTransferInput {
  /** An uploaded content image… */
  content?: Uint8Array | null;
  /** …or one already stored (its SHA-256). */
  contentImageId?: string | null;
  styles: { styleId: string; weight?: number | null }[];
  presetId?: string | null;
  /** Overrides of the preset's (or the defaults') parameters. */
  params?: PresetParams | null;
}

export interface TransferServices {
  db: Db;
  images: ImageStore;
  runs: RunManager;
  /** Largest output the engine's backend can take, in pixels. */
  maxPixels: number;
}

async function contentDimensions(services: TransferServices, input: StartTransferInput): Promise<{ width: number; height: number; upload?: CheckedImage; imageId?: string }> {
  if ((input.content == null) === (input.contentImageId == null)) {
    throw new InputError('content', 'give exactly one of content (an upload) and contentImageId');
  }
  if (input.content != null) {
    const upload = await services.images.check(input.content, 'content');
    return { width: upload.width, height: upload.height, upload };
  }
  const image = await services.db.image.findUnique({ where: { id: input.contentImageId! } });
  if (!image) throw new NotFoundError('Image', input.contentImageId!);
  return { width: image.width, height: image.height, imageId: image.id };
}

export async function startTransfer(services: TransferServices, input: StartTransferInput): Promise<Run> {
  const { db, images, runs } = services;
  if (input.styles.length < LIMITS.styles.min || input.styles.length > LIMITS.styles.max) {
    throw new InputError('styles', `has ${input.styles.length} entries`, `${LIMITS.styles.min} to ${LIMITS.styles.max} styles`);
  }
  const weights = input.styles.map((s, i) => {
    const weight = s.weight ?? 1;
    if (!Number.isFinite(weight) || weight < 0) throw new InputError(`styles[${i}].weight`, `must be a finite number ≥ 0, got ${weight}`);
    return weight;
  });
  if (weights.every((w) => w === 0)) throw new InputError('styles', 'all weights are 0', 'at least one weight > 0');
  const styles = await db.style.findMany({ where: { id: { in: input.styles.map((s) => s.styleId) } } });
  const byId = new Map(styles.map((s) => [s.id, s]));
  const missing = input.styles.find((s) => !byId.has(s.styleId));
  if (missing) throw new NotFoundError('Style', missing.styleId);

  const preset = input.presetId != null ? await db.preset.findUnique({ where: { id: input.presetId } }) : null;
  if (input.presetId != null && !preset) throw new NotFoundError('Preset', input.presetId);
  const merged = validatePresetParams('GATYS', { ...((preset?.params as PresetParams | undefined) ?? {}), ...(input.params ?? {}) });
  let params;
  try {
    params = resolveGatysOptions(merged);
  } catch (error) {
    throw toInputError(error);
  }

  const content = await contentDimensions(services, input);
  const output = fitLongestSide(content.width, content.height, params.size);
  if (output.width * output.height > services.maxPixels) {
    const largest = largestSideWithin(content.width, content.height, services.maxPixels);
    throw new InputError('params.size', `${output.width}×${output.height} is more than the engine's backend can hold`, `size ≤ ${largest} for this image`);
  }

  const contentImageId = content.upload ? (await images.save(content.upload)).id : content.imageId!;
  const run = await db.run.create({
    data: {
      status: 'QUEUED',
      engine: 'GATYS',
      params: params as unknown as Prisma.InputJsonObject,
      contentImageId,
      presetId: preset?.id ?? null,
      totalSteps: params.steps * params.scales,
      width: output.width,
      height: output.height,
      styles: {
        create: input.styles.map((s, position) => {
          const style = byId.get(s.styleId)!;
          return { position, styleId: style.id, styleName: style.name, imageId: style.imageId, weight: weights[position]! };
        }),
      },
    },
  });
  runs.enqueue(run.id);
  return run;
}
