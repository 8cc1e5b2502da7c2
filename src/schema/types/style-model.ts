// Style models: trained networks for FAST transfers, the pretrained catalogue and imported ones.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { deleteStyleModel, importStyleModel, prepareStyleModel, updateStyleModel } from '../../domain/style-models.js';
import { catalogueModel, locateCatalogueModel, type Architecture, type ModelFormat } from '../../engine/index.js';
import { ConflictError, InputError, NotFoundError, UnavailableError } from '../../errors.js';
import { usableBy } from '../../domain/owners.js';
import { builder } from '../builder.js';
import { localId, localIdOrNull } from './ids.js';
import { DeletedRef } from './style.js';

const ArchitectureEnum = builder.enumType('StyleModelArchitecture', {
  values: {
    ENGSTROM: {
      value: 'engstrom',
      description: "Engstrom's TensorFlow TransformNet (transposed-conv upsampling, tanh output).",
    },
    PYTORCH: {
      value: 'pytorch',
      description: "The PyTorch examples' TransformerNet (reflection padding, upsample then conv).",
    },
  } as const,
});

const FormatEnum = builder.enumType('StyleModelFormat', {
  values: { ML5_CHECKPOINT: { value: 'ml5-checkpoint' }, NCNN: { value: 'ncnn' } } as const,
});

const SourceEnum = builder.enumType('StyleModelSource', {
  values: {
    CATALOGUE: { value: 'catalogue', description: 'A pretrained model Gramian knows by name; fetched on first use.' },
    IMPORT: { value: 'import', description: 'Imported from files; copied into the data folder.' },
  } as const,
});

builder.prismaNode('StyleModel', {
  id: { field: 'id' },
  authScopes: (model) => ({ owner: model.owner }),
  fields: (t) => ({
    name: t.exposeString('name'),
    title: t.string({
      description: 'A readable name (the painting, for catalogue models).',
      resolve: (m) => catalogueModel(m.name)?.title ?? m.name,
    }),
    architecture: t.field({ type: ArchitectureEnum, resolve: (m) => m.architecture as Architecture }),
    format: t.field({ type: FormatEnum, resolve: (m) => m.format as ModelFormat }),
    source: t.field({ type: SourceEnum, resolve: (m) => m.source as 'catalogue' | 'import' }),
    available: t.boolean({
      description: 'Its files are on disk now (a catalogue model is fetched on first use otherwise).',
      resolve: (m, _args, { styleModels }) => {
        if (m.source === 'import') return existsSync(path.join(styleModels.modelsDir, m.location));
        const entry = catalogueModel(m.name);
        return entry !== undefined && locateCatalogueModel(entry, styleModels.env) !== undefined;
      },
    }),
    preview: t.relation('previewImage', {
      nullable: true,
      description: 'A fixed sample scene stylised by this model.',
    }),
    styleImage: t.relation('styleImage', {
      nullable: true,
      description:
        'The painting the network was trained on, if attached (importStyleModel, updateStyleModel): FAST runs with ' +
        'this model get a quality.style score against it.',
    }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
  }),
});

builder.queryFields((t) => ({
  styleModels: t.prismaField({
    type: ['StyleModel'],
    description: "Every style model one may use: the pretrained catalogue and one's imported ones.",
    resolve: (query, _root, _args, { db, principal }) =>
      db.styleModel.findMany({ ...query, where: usableBy(principal), orderBy: [{ source: 'asc' }, { name: 'asc' }] }),
  }),
  styleModel: t.prismaField({
    type: 'StyleModel',
    nullable: true,
    args: { id: t.arg.id() },
    resolve: (query, _root, args, { db, principal }) => {
      const id = localIdOrNull(String(args.id), 'StyleModel');
      return id ? db.styleModel.findFirst({ ...query, where: { id, ...usableBy(principal) } }) : null;
    },
  }),
}));

const ImportStyleModelInput = builder.inputType('ImportStyleModelInput', {
  fields: (t) => ({
    name: t.string({ description: 'Unique: letters, digits, spaces, dots, dashes, brackets.' }),
    path: t.string({
      description:
        'On the server: an ml5 checkpoint folder (manifest.json) or an ncnn .param file (its .bin beside it).',
    }),
    styleImageId: t.id({
      required: false,
      description:
        "A stored image (e.g. a style's image, or one sent to POST /images): the painting the network was trained " +
        'on, which FAST runs with it are scored against (quality.style).',
    }),
  }),
});

const UpdateStyleModelInput = builder.inputType('UpdateStyleModelInput', {
  fields: (t) => ({
    styleImageId: t.id({
      required: false,
      description:
        "The painting the network was trained on (a stored image), for the style part of its runs' quality score; " +
        'null detaches it, omitted keeps it.',
    }),
  }),
});

builder.mutationFields((t) => ({
  importStyleModel: t.prismaField({
    type: 'StyleModel',
    authScopes: { admin: true },
    errors: { types: [InputError, ConflictError, NotFoundError] },
    description:
      'Imports a trained model from files on the server (admin); it must load and stylise the sample scene first.',
    args: { input: t.arg({ type: ImportStyleModelInput }) },
    resolve: async (query, _root, { input }, ctx) => {
      const model = await importStyleModel(ctx.styleModels, ctx.principal, {
        name: input.name,
        path: input.path,
        styleImageId: input.styleImageId ? localId(String(input.styleImageId), 'Image') : null,
      });
      return ctx.db.styleModel.findUniqueOrThrow({ ...query, where: { id: model.id } });
    },
  }),
  updateStyleModel: t.prismaField({
    type: 'StyleModel',
    authScopes: { manage: true },
    errors: { types: [NotFoundError] },
    description:
      "Attaches (or detaches) a model's reference painting: one's own imported models; catalogue models for admins.",
    args: { id: t.arg.id(), input: t.arg({ type: UpdateStyleModelInput }) },
    resolve: async (query, _root, args, ctx) => {
      const { styleImageId } = args.input;
      const model = await updateStyleModel(ctx.styleModels, ctx.principal, localId(String(args.id), 'StyleModel'), {
        ...(styleImageId === undefined
          ? {}
          : { styleImageId: styleImageId === null ? null : localId(String(styleImageId), 'Image') }),
      });
      return ctx.db.styleModel.findUniqueOrThrow({ ...query, where: { id: model.id } });
    },
  }),
  prepareStyleModel: t.prismaField({
    type: 'StyleModel',
    authScopes: { manage: true },
    errors: { types: [NotFoundError, UnavailableError] },
    description: 'Fetches a catalogue model now (instead of on first use) and makes its preview.',
    args: { id: t.arg.id() },
    resolve: async (query, _root, args, ctx) => {
      const model = await prepareStyleModel(ctx.styleModels, ctx.principal, localId(String(args.id), 'StyleModel'));
      return ctx.db.styleModel.findUniqueOrThrow({ ...query, where: { id: model.id } });
    },
  }),
  deleteStyleModel: t.field({
    type: DeletedRef,
    authScopes: { manage: true },
    errors: { types: [NotFoundError, ConflictError] },
    description: 'Deletes an imported model no queued or running run needs; past runs keep its name.',
    args: { id: t.arg.id() },
    resolve: async (_root, args, ctx) => {
      await deleteStyleModel(ctx.styleModels, ctx.principal, localId(String(args.id), 'StyleModel'));
      return { id: String(args.id) };
    },
  }),
}));
