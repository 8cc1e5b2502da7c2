// Runs: their history (parameters, loss curve, previews, result, error), starting them and cancelling them.
import { startTransfer } from '../../domain/transfers.js';
import { RUN_STATUSES } from '../../domain/run-status.js';
import { givenParams, type FastPresetParams, type PresetParams } from '../../domain/presets.js';
import { QUALITY_DEFAULTS, type GatysOptions } from '../../engine/index.js';
import type { Prisma } from '../../storage/generated/client.ts';
import { ConflictError, ImageTooLargeError, InputError, NotFoundError, QuotaExceededError } from '../../errors.js';
import { ownedBy } from '../../domain/owners.js';
import { builder } from '../builder.js';
import { localId, localIdOrNull } from './ids.js';
import { FastParamsInput, FastParamsRef, GatysParamsInput, GatysParamsRef } from './params.js';
import { EngineKindEnum } from './preset.js';

export const RunStatusEnum = builder.enumType('RunStatus', { values: RUN_STATUSES });

const LossesRef = builder.objectRef<{ content: number; style: number; tv: number; total: number }>('Losses').implement({
  description: 'Weighted loss terms; total is their sum.',
  fields: (t) => ({
    content: t.exposeFloat('content'),
    style: t.exposeFloat('style'),
    tv: t.exposeFloat('tv'),
    total: t.exposeFloat('total'),
  }),
});

const RunQualityRef = builder.objectRef<{ style: number | null; content: number }>('RunQuality').implement({
  description:
    'How close the result came to its style and its content, measured with VGG19 at the end of the run on a copy ' +
    `downscaled to ${QUALITY_DEFAULTS.size} px (the same yardstick for every run, whatever its parameters). Lower is ` +
    'better on both, and they pull against each other: compare runs of the same content and styles.',
  fields: (t) => ({
    style: t.float({
      nullable: true,
      description:
        "Distance of the result's Gram matrices (relu1_1…relu5_1) to the style's, divided by the content image's " +
        'own distance to the style: 0 = the style exactly, 1 = no more stylised than the photo. Null for a FAST run ' +
        'whose style model has no reference style image.',
      resolve: (q) => q.style,
    }),
    content: t.exposeFloat('content', {
      description:
        "Mean squared difference of the result's relu4_2 features and the content's, divided by the content's mean " +
        'square: 0 = the content exactly.',
    }),
  }),
});

export const RunOrderEnum = builder.enumType('RunOrder', {
  values: {
    NEWEST: { description: 'Newest first (default).' },
    STYLE_SCORE: { description: 'Scored runs only (those with quality.style), lowest (best) style score first.' },
    CONTENT_SCORE: { description: 'Scored runs only (those with a quality), lowest (best) content score first.' },
  } as const,
});

/** The order of a history, and the runs it keeps: a ranking by a score leaves out the runs without one. */
function historyOrder(order: 'NEWEST' | 'STYLE_SCORE' | 'CONTENT_SCORE' | null | undefined): {
  where: Prisma.RunWhereInput;
  orderBy: Prisma.RunOrderByWithRelationInput[];
} {
  switch (order) {
    case 'STYLE_SCORE':
      return { where: { qualityStyle: { not: null } }, orderBy: [{ qualityStyle: 'asc' }, { id: 'asc' }] };
    case 'CONTENT_SCORE':
      return { where: { qualityContent: { not: null } }, orderBy: [{ qualityContent: 'asc' }, { id: 'asc' }] };
    default:
      return { where: {}, orderBy: [{ queuedAt: 'desc' }, { id: 'desc' }] };
  }
}

const RunErrorRef = builder.objectRef<{ code: string; message: string }>('RunError').implement({
  description: 'Why a run failed.',
  fields: (t) => ({ code: t.exposeString('code'), message: t.exposeString('message') }),
});

export const RunStepRef = builder.prismaObject('RunStep', {
  description: 'One optimisation step: the point of the loss curve.',
  fields: (t) => ({
    step: t.exposeInt('step'),
    scale: t.exposeInt('scale', { description: '1-based scale (coarse to fine).' }),
    contentLoss: t.exposeFloat('contentLoss'),
    styleLoss: t.exposeFloat('styleLoss'),
    tvLoss: t.exposeFloat('tvLoss'),
    totalLoss: t.exposeFloat('totalLoss'),
    ms: t.exposeFloat('ms', { description: 'Wall time of the step.' }),
    tile: t.exposeInt('tile', {
      nullable: true,
      description: 'At a scale refined in tiles: the 1-based tile this step optimised (null at a whole-image scale).',
    }),
    tiles: t.exposeInt('tiles', {
      nullable: true,
      description: "At a scale refined in tiles: the scale's number of tiles (null at a whole-image scale).",
    }),
  }),
});

export const RunPreviewRef = builder.prismaObject('RunPreview', {
  fields: (t) => ({
    step: t.exposeInt('step'),
    // By id rather than t.relation, so a preview built from a published event needs no row of its own.
    image: t.prismaField({
      type: 'Image',
      resolve: (query, preview, _args, { db }) =>
        db.image.findUniqueOrThrow({ ...query, where: { id: preview.imageId } }),
    }),
  }),
});

builder.prismaObject('RunStyle', {
  description: "A style of a run with its blend weight; name and image survive the style's deletion.",
  fields: (t) => ({
    style: t.relation('style', { nullable: true, description: 'Null once the style has been deleted.' }),
    name: t.exposeString('styleName'),
    image: t.relation('image'),
    weight: t.exposeFloat('weight'),
  }),
});

export const RunRef = builder.prismaNode('Run', {
  id: { field: 'id' },
  // Lookups and lists already keep to the principal's own; this holds for whatever path reaches a run.
  authScopes: (run) => ({ owner: run.owner }),
  fields: (t) => ({
    status: t.field({ type: RunStatusEnum, resolve: (run) => run.status }),
    engine: t.field({ type: EngineKindEnum, resolve: (run) => run.engine }),
    params: t.field({
      type: GatysParamsRef,
      nullable: true,
      description: 'The parameters of a GATYS run (null for FAST).',
      resolve: (run) => (run.engine === 'GATYS' ? (run.params as unknown as GatysOptions) : null),
    }),
    fastParams: t.field({
      type: FastParamsRef,
      nullable: true,
      description: 'The options of a FAST run (null for GATYS).',
      resolve: (run) => (run.engine === 'FAST' ? (run.params as FastPresetParams) : null),
    }),
    styleModel: t.relation('styleModel', {
      nullable: true,
      description: 'The network of a FAST run; null once deleted.',
    }),
    preset: t.relation('preset', { nullable: true }),
    content: t.relation('contentImage'),
    styles: t.relation('styles', { query: { orderBy: { position: 'asc' } } }),
    queuedAt: t.expose('queuedAt', { type: 'DateTime' }),
    startedAt: t.expose('startedAt', { type: 'DateTime', nullable: true }),
    finishedAt: t.expose('finishedAt', { type: 'DateTime', nullable: true }),
    queuePosition: t.int({
      nullable: true,
      description: '1 for the next run to start, 0 for a run being started right now; null unless QUEUED.',
      // A run handed to a worker is out of the queue a moment before its RUNNING status is stored.
      resolve: async (run, _args, { runs }) => (run.status === 'QUEUED' ? ((await runs.position(run.id)) ?? 0) : null),
    }),
    totalSteps: t.exposeInt('totalSteps'),
    lastStep: t.exposeInt('lastStep', { description: 'Steps done so far (persisted).' }),
    width: t.exposeInt('width', { nullable: true }),
    height: t.exposeInt('height', { nullable: true }),
    backend: t.exposeString('backend', { nullable: true }),
    losses: t.field({
      type: LossesRef,
      nullable: true,
      description: 'Losses at the last persisted step (the final ones once SUCCEEDED).',
      resolve: (run) =>
        run.totalLoss === null
          ? null
          : { content: run.contentLoss ?? 0, style: run.styleLoss ?? 0, tv: run.tvLoss ?? 0, total: run.totalLoss },
    }),
    quality: t.field({
      type: RunQualityRef,
      nullable: true,
      description:
        'The quality score of the result, stored with it (lower is better); null until the run has SUCCEEDED, and ' +
        'for a run that could not be scored.',
      resolve: (run) => (run.qualityContent === null ? null : { style: run.qualityStyle, content: run.qualityContent }),
    }),
    error: t.field({
      type: RunErrorRef,
      nullable: true,
      resolve: (run) => (run.errorCode ? { code: run.errorCode, message: run.errorMessage ?? '' } : null),
    }),
    result: t.relation('resultImage', { nullable: true }),
    steps: t.relation('steps', {
      description: 'The loss curve, in step order; `after` skips steps up to and including it.',
      args: { after: t.arg.int({ required: false }), first: t.arg.int({ required: false }) },
      query: (args) => ({
        where: { step: { gt: args.after ?? 0 } },
        orderBy: { step: 'asc' },
        take: args.first ?? undefined,
      }),
    }),
    previews: t.relation('previews', { query: { orderBy: { step: 'asc' } } }),
  }),
});

builder.queryFields((t) => ({
  runs: t.prismaConnection({
    type: 'Run',
    cursor: 'id',
    description:
      "One's run history (an admin's: everyone's), newest first; `status` keeps only those states; `orderBy` ranks " +
      'the scored runs by quality instead (best first).',
    args: {
      status: t.arg({ type: [RunStatusEnum], required: false }),
      orderBy: t.arg({ type: RunOrderEnum, required: false, description: 'Default NEWEST.' }),
    },
    resolve: (query, _root, args, { db, principal }) => {
      const order = historyOrder(args.orderBy);
      return db.run.findMany({
        ...query,
        where: { ...ownedBy(principal), ...(args.status ? { status: { in: args.status } } : {}), ...order.where },
        orderBy: order.orderBy,
      });
    },
    totalCount: (_connection, args, { db, principal }) =>
      db.run.count({
        where: {
          ...ownedBy(principal),
          ...(args.status ? { status: { in: args.status } } : {}),
          ...historyOrder(args.orderBy).where,
        },
      }),
  }),
  run: t.prismaField({
    type: 'Run',
    nullable: true,
    args: { id: t.arg.id() },
    resolve: (query, _root, args, { db, principal }) => {
      const id = localIdOrNull(String(args.id), 'Run');
      return id ? db.run.findFirst({ ...query, where: { id, ...ownedBy(principal) } }) : null;
    },
  }),
}));

const StyleWeightInput = builder.inputType('StyleWeightInput', {
  fields: (t) => ({
    styleId: t.id(),
    weight: t.float({
      required: false,
      description: 'Blend weight (≥ 0, default 1); weights are normalised to sum to 1.',
    }),
  }),
});

const StartTransferInput = builder.inputType('StartTransferInput', {
  description:
    'Give exactly one of content and contentImageId. ' +
    'A GATYS transfer takes styles; a FAST one takes a styleModelId (or a FAST preset naming a model).',
  fields: (t) => ({
    content: t.field({ type: 'File', required: false, description: 'The content image, uploaded.' }),
    contentImageId: t.id({
      required: false,
      description: 'An image already stored (e.g. the content of an earlier run).',
    }),
    styles: t.field({
      type: [StyleWeightInput],
      required: false,
      description: 'Style images with blend weights (GATYS).',
    }),
    styleModelId: t.id({ required: false, description: 'A trained style model (FAST).' }),
    presetId: t.id({ required: false }),
    params: t.field({
      type: GatysParamsInput,
      required: false,
      description: "Overrides of the preset's GATYS parameters.",
    }),
    fastParams: t.field({
      type: FastParamsInput,
      required: false,
      description: "Overrides of the preset's FAST options.",
    }),
  }),
});

builder.mutationFields((t) => ({
  startTransfer: t.prismaField({
    type: 'Run',
    authScopes: { run: true },
    errors: { types: [InputError, ImageTooLargeError, NotFoundError, ConflictError, QuotaExceededError] },
    description: 'Queues a transfer. Follow it with the runEvents subscription.',
    args: { input: t.arg({ type: StartTransferInput }) },
    resolve: async (query, _root, { input }, ctx) => {
      const run = await startTransfer(
        {
          db: ctx.db,
          images: ctx.images,
          runs: ctx.runs,
          backend: await ctx.engineLimits(),
          maxRunWork: ctx.config.maxRunWork,
          maxOutputSide: ctx.config.maxOutputSide,
        },
        ctx.principal,
        {
          content: input.content ? new Uint8Array(await input.content.arrayBuffer()) : null,
          contentImageId: input.contentImageId ? localId(String(input.contentImageId), 'Image') : null,
          styles:
            input.styles?.map((s) => ({ styleId: localId(String(s.styleId), 'Style'), weight: s.weight })) ?? null,
          styleModelId: input.styleModelId ? localId(String(input.styleModelId), 'StyleModel') : null,
          presetId: input.presetId ? localId(String(input.presetId), 'Preset') : null,
          params: givenParams(input.params as PresetParams),
          fastParams: input.fastParams ? givenParams(input.fastParams as FastPresetParams) : null,
        },
      );
      return ctx.db.run.findUniqueOrThrow({ ...query, where: { id: run.id } });
    },
  }),
  cancelRun: t.prismaField({
    type: 'Run',
    authScopes: { run: true },
    errors: { types: [NotFoundError, ConflictError] },
    description: 'A queued run leaves the queue at once; a running one stops within one step. Both keep their steps.',
    args: { id: t.arg.id() },
    resolve: async (query, _root, args, { db, runs, principal }) => {
      const id = localId(String(args.id), 'Run');
      // Another owner's run is not found: its existence is not revealed.
      if (!(await db.run.findFirst({ where: { id, ...ownedBy(principal) }, select: { id: true } }))) {
        throw new NotFoundError('Run', String(args.id));
      }
      await runs.cancel(id);
      return db.run.findUniqueOrThrow({ ...query, where: { id } });
    },
  }),
}));
