// Starting a transfer: everything the request names is checked (content, styles or style model, preset,
// parameters, size for the backend) before anything is written; then the content image and the run are stored and
// queued. A transfer is GATYS (style images, optimised) or FAST (one pass of a trained style model).
import {
  LIMITS,
  MAX_OUTPUT_SIDE,
  type BackendLimits,
  fitLongestSide,
  largestSideWithin,
  maxFastPixelsFor,
  defaultFastSize,
  maxPixelsFor,
  resolveFastOptions,
  resolveGatysOptions,
  scaleSizes,
} from '../engine/index.js';
import { isAdmin, type Principal } from '../auth/principal.js';
import { InputError, NotFoundError } from '../errors.js';
import type { Db } from '../storage/db.js';
import type { Preset, Prisma, Run, StyleModel } from '../storage/generated/client.ts';
import type { CheckedImage, ImageStore } from '../storage/image-store.js';
import {
  givenParams,
  validatePresetParams,
  type EngineKind,
  type FastPresetParams,
  type PresetParams,
} from './presets.js';
import { ownedBy, readersFor, usableBy } from './owners.js';
import { fastWork, gatysWork, largestSizeWithin, largestStepsWithin, type WorkParams } from './run-work.js';
import type { Runs } from './runs.js';

export interface StartTransferInput {
  /** An uploaded content image… */
  content?: Uint8Array | null;
  /** …or one already stored (its SHA-256). */
  contentImageId?: string | null;
  /** Style images with blend weights (GATYS). */
  styles?: { styleId: string; weight?: number | null }[] | null;
  /** A trained style model (FAST). */
  styleModelId?: string | null;
  presetId?: string | null;
  /** Overrides of the preset's (or the defaults') Gatys parameters. */
  params?: PresetParams | null;
  /** Overrides of the preset's fast-transfer options. */
  fastParams?: FastPresetParams | null;
}

export interface TransferServices {
  db: Db;
  images: ImageStore;
  runs: Runs;
  /** The backend the engine runs on (and its GPU adapter), which bounds the output size. */
  backend: BackendLimits;
  /** The most pixel-steps one run of a non-admin may take (MAX_RUN_WORK; see run-work.ts). */
  maxRunWork: number;
  /** The longest output side any run may ask for (MAX_OUTPUT_SIDE); default the engine's, MAX_OUTPUT_SIDE. */
  maxOutputSide?: number;
}

/** A run to store, but for its owner and content image (known once the request is admitted). */
type RunData = Omit<Prisma.RunUncheckedCreateInput, 'contentImageId' | 'owner'>;

interface Content {
  width: number;
  height: number;
  upload?: CheckedImage;
  imageId?: string;
}

async function contentOf(
  services: TransferServices,
  principal: Principal,
  input: StartTransferInput,
): Promise<Content> {
  if ((input.content == null) === (input.contentImageId == null)) {
    throw new InputError('content', 'give exactly one of content (an upload) and contentImageId');
  }
  if (input.content != null) {
    const upload = await services.images.check(input.content, 'content');
    return { width: upload.width, height: upload.height, upload };
  }
  const image = await services.images.find(input.contentImageId!, readersFor(principal));
  if (!image) throw new NotFoundError('Image', input.contentImageId!);
  return { width: image.width, height: image.height, imageId: image.id };
}

/** Refuses a size over the server's MAX_OUTPUT_SIDE, for every principal (admins too). */
function checkOutputSide(services: TransferServices, size: number, field: string): void {
  const max = services.maxOutputSide ?? MAX_OUTPUT_SIDE;
  if (size > max)
    throw new InputError(field, `${size} is more than this server's largest output side`, `size ≤ ${max}`);
}

/**
 * Output dimensions. Any size up to MAX_OUTPUT_SIDE runs: past what the backend holds in one pass, the engine refines
 * a Gatys run in tiles and runs a fast network tile by tile (src/engine/gatys/tiling.ts, fast-style/).
 */
function outputOf(content: Content, size: number): { width: number; height: number } {
  return fitLongestSide(content.width, content.height, size);
}

interface Dimensions {
  width: number;
  height: number;
}

/** The longest side of the coarsest scale a GATYS run works at. */
function coarsestSide(size: number, scales: number): number {
  return scaleSizes(size, scales)[0]!;
}

/** The short side of an image fitted to `longest`. */
function shortSideAt(image: Dimensions, longest: number): number {
  const fitted = fitLongestSide(image.width, image.height, longest);
  return Math.min(fitted.width, fitted.height);
}

/*
 * GATYS runs VGG19, whose relu5_x layers sit below four 2× poolings: at the coarsest scale, the content (and each
 * style image, at its styleScale) needs a short side of LIMITS.minSide px, or the engine fails the stored run. These
 * checks refuse it up front instead. A FAST run has no such bound: its networks take any image of 1 px a side or
 * more, which fitLongestSide always gives.
 */

/** Refuses content too thin for the size, naming the smallest size that would do, or asking for a squarer image. */
function checkContentSides(content: Dimensions, params: { size: number; scales: number }, maxPixels: number): void {
  const shortAt = (size: number) => shortSideAt(content, coarsestSide(size, params.scales));
  if (shortAt(params.size) >= LIMITS.minSide) return;
  const problem =
    `is ${content.width}×${content.height}: at size ${params.size} its short side is ${shortAt(params.size)} px ` +
    `at the coarsest scale, below the ${LIMITS.minSide} px the network needs`;
  const largest = Math.min(LIMITS.size.max, largestSideWithin(content.width, content.height, maxPixels));
  let enough = params.size + 1;
  while (enough <= largest && shortAt(enough) < LIMITS.minSide) enough++;
  if (enough <= largest) {
    const orFewerScales = params.scales > 1 ? ', or fewer scales' : '';
    throw new InputError('params.size', problem, `size ≥ ${enough} for this image${orFewerScales}`);
  }
  const ratio = Math.floor(coarsestSide(largest, params.scales) / LIMITS.minSide);
  throw new InputError('content', problem, `an image closer to square: at most ${ratio}:1 at size ${largest}`);
}

/** Refuses a style image too thin at the run's coarsest scale and styleScale. */
function checkStyleSides(
  styles: { name: string; image: Dimensions }[],
  params: { size: number; scales: number; styleScale: number },
): void {
  const longest = Math.round(coarsestSide(params.size, params.scales) * params.styleScale);
  styles.forEach((style, i) => {
    if (shortSideAt(style.image, longest) >= LIMITS.minSide) return;
    const { width, height } = style.image;
    const problem =
      `style "${style.name}" is ${width}×${height}: at styleScale ${params.styleScale} ` +
      `its short side falls below ${LIMITS.minSide} px`;
    const validValues = 'a larger params.styleScale or size, or a squarer style image';
    throw new InputError(`styles[${i}].styleId`, problem, validValues);
  });
}

/** Refuses a GATYS run over maxWork pixel-steps, naming the most steps that fit at its size (else a smaller size). */
function checkGatysWork(content: Dimensions, params: WorkParams, maxWork: number, maxPixels: number): void {
  const work = gatysWork(content, params, maxPixels);
  if (work <= maxWork) return;
  const problem =
    `${params.steps} steps${params.scales > 1 ? ` per scale over ${params.scales} scales` : ''} at size ` +
    `${params.size} are ${work} pixel-steps of work, more than the ${maxWork} one run may take`;
  const steps = largestStepsWithin(content, params, maxWork, maxPixels);
  if (steps >= 1) throw new InputError('params.steps', problem, `steps ≤ ${steps} at size ${params.size}`);
  const size = largestSizeWithin(content, params, maxWork, maxPixels);
  const atSteps = `at ${params.steps} step${params.steps === 1 ? '' : 's'}`;
  throw new InputError('params.size', problem, size ? `size ≤ ${size} ${atSteps}` : 'fewer steps');
}

/** GATYS: the styles with their weights, and the full parameter set after preset and overrides. */
async function gatysRun(
  services: TransferServices,
  principal: Principal,
  input: StartTransferInput,
  preset: Preset | null,
  content: Content,
): Promise<RunData> {
  const requested = input.styles ?? [];
  if (requested.length < LIMITS.styles.min || requested.length > LIMITS.styles.max) {
    throw new InputError(
      'styles',
      `has ${requested.length} entries`,
      `${LIMITS.styles.min} to ${LIMITS.styles.max} styles (or a styleModelId for a fast transfer)`,
    );
  }
  const weights = requested.map((s, i) => {
    const weight = s.weight ?? 1;
    if (!Number.isFinite(weight) || weight < 0)
      throw new InputError(`styles[${i}].weight`, `must be a finite number ≥ 0, got ${weight}`);
    return weight;
  });
  if (weights.every((w) => w === 0)) throw new InputError('styles', 'all weights are 0', 'at least one weight > 0');
  const styles = await services.db.style.findMany({
    where: { id: { in: requested.map((s) => s.styleId) }, ...ownedBy(principal) },
    // Their sizes, for checkStyleSides.
    include: { image: { select: { width: true, height: true } } },
  });
  const byId = new Map(styles.map((s) => [s.id, s]));
  const missing = requested.find((s) => !byId.has(s.styleId));
  if (missing) throw new NotFoundError('Style', missing.styleId);
  const merged = validatePresetParams('GATYS', {
    ...((preset?.params as PresetParams | undefined) ?? {}),
    ...givenParams(input.params),
  });
  // validatePresetParams has checked them: this only fills in the defaults.
  const params = resolveGatysOptions(merged);
  checkOutputSide(services, params.size, 'params.size');
  const output = outputOf(content, params.size);
  checkContentSides(content, params, maxPixelsFor(services.backend));
  checkStyleSides(
    requested.map((s) => byId.get(s.styleId)!),
    params,
  );
  // Admins are trusted with any run the backend can hold.
  if (!isAdmin(principal)) checkGatysWork(content, params, services.maxRunWork, maxPixelsFor(services.backend));
  return {
    status: 'QUEUED',
    engine: 'GATYS',
    params: params as unknown as Prisma.InputJsonObject,
    presetId: preset?.id ?? null,
    totalSteps: params.steps * params.scales,
    ...output,
    styles: {
      create: requested.map((s, position) => {
        const style = byId.get(s.styleId)!;
        return {
          position,
          styleId: style.id,
          styleName: style.name,
          imageId: style.imageId,
          weight: weights[position]!,
        };
      }),
    },
  };
}

/** FAST: the style model (given, or named by the preset) and the pass's options. */
async function fastRun(
  services: TransferServices,
  principal: Principal,
  input: StartTransferInput,
  preset: Preset | null,
  content: Content,
): Promise<RunData> {
  if (input.styles?.length)
    throw new InputError(
      'styles',
      'a fast transfer uses a style model, not style images',
      'styles empty with styleModelId',
    );
  const fromPreset = (preset?.engine === 'FAST' ? (preset.params as FastPresetParams) : {}) ?? {};
  const { styleModel: presetModel, ...options } = validatePresetParams('FAST', {
    ...fromPreset,
    ...givenParams(input.fastParams),
  }) as FastPresetParams;
  let model: StyleModel | null;
  if (input.styleModelId != null) {
    model = await services.db.styleModel.findFirst({ where: { id: input.styleModelId, ...usableBy(principal) } });
    if (!model) throw new NotFoundError('StyleModel', input.styleModelId);
  } else if (presetModel) {
    // The principal's own model of that name before the catalogue's ('' sorts last).
    model = await services.db.styleModel.findFirst({
      where: { name: presetModel, ...usableBy(principal) },
      orderBy: { owner: 'desc' },
    });
    if (!model) throw new NotFoundError('StyleModel', presetModel);
  } else {
    throw new InputError(
      'styleModelId',
      'a fast transfer needs a style model',
      'a styleModelId, or a FAST preset that names one',
    );
  }
  // Checked by validatePresetParams: this only fills in the defaults.
  const fast = resolveFastOptions(options);
  const maxPixels = maxFastPixelsFor(services.backend);
  // Without a size the pass keeps the content's own, as large as the backend (the engine's own rule) and the server
  // allow.
  if (fast.size !== undefined) checkOutputSide(services, fast.size, 'fastParams.size');
  const size =
    fast.size ??
    Math.min(defaultFastSize(content.width, content.height, maxPixels), services.maxOutputSide ?? MAX_OUTPUT_SIDE);
  const output = outputOf(content, size);
  if (!isAdmin(principal) && fastWork(output) > services.maxRunWork) {
    const largest = largestSideWithin(content.width, content.height, services.maxRunWork);
    const problem = `${output.width}×${output.height} is more than the ${services.maxRunWork} pixels one run may make`;
    throw new InputError('fastParams.size', problem, `size ≤ ${largest} for this image`);
  }
  return {
    status: 'QUEUED',
    engine: 'FAST',
    params: { ...fast, size, styleModel: model.name } as Prisma.InputJsonObject,
    presetId: preset?.id ?? null,
    styleModelId: model.id,
    totalSteps: 1,
    ...output,
  };
}

export async function startTransfer(
  services: TransferServices,
  principal: Principal,
  input: StartTransferInput,
): Promise<Run> {
  const { db, images, runs } = services;
  const claim = { owner: principal.owner, exempt: isAdmin(principal) };
  // Cheap early checks before the work of checking the request; admit checks both again where it counts.
  runs.assertAccepting();
  await runs.assertQuota(claim);
  const preset =
    input.presetId != null
      ? await db.preset.findFirst({ where: { id: input.presetId, ...usableBy(principal) } })
      : null;
  if (input.presetId != null && !preset) throw new NotFoundError('Preset', input.presetId);
  const kind: EngineKind =
    preset?.engine === 'FAST' || input.styleModelId != null || input.fastParams != null ? 'FAST' : 'GATYS';
  if (kind === 'FAST' && preset?.engine === 'GATYS')
    throw new InputError(
      'presetId',
      'names a GATYS preset but the request is a fast transfer',
      'a FAST preset, or none',
    );
  const content = await contentOf(services, principal, input);
  const data =
    kind === 'FAST'
      ? await fastRun(services, principal, input, preset, content)
      : await gatysRun(services, principal, input, preset, content);
  // Checked again here, after the awaits above: a shutdown that began meanwhile, or runs queued meanwhile up to the
  // quota, refuse the run before anything is written; once writing begins, the run is accepted and shutdown waits.
  return runs.admit(claim, async () => {
    const { owner } = principal;
    const contentImageId = content.upload ? (await images.save(content.upload, owner)).id : content.imageId!;
    // A stored image nothing else used may be collected meanwhile: NOT_FOUND then, with nothing written.
    return images.referencing([contentImageId], () => db.run.create({ data: { ...data, owner, contentImageId } }));
  });
}
