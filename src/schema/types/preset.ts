// Presets: named parameter sets, built-ins included.
import {
  createPreset,
  deletePreset,
  givenParams,
  restoreBuiltInPresets,
  updatePreset,
  type EngineKind,
  type FastPresetParams,
  type PresetParams,
} from '../../domain/presets.js';
import { resolveFastOptions, resolveGatysOptions } from '../../engine/index.js';
import { ConflictError, InputError, NotFoundError } from '../../errors.js';
import { usableBy } from '../../domain/owners.js';
import { builder } from '../builder.js';
import { localId, localIdOrNull } from './ids.js';
import { FastParamsInput, FastParamsRef, GatysParamsInput, GatysParamsRef, PresetParamsRef } from './params.js';
import { DeletedRef } from './style.js';

// One entry per value of the Prisma enum: a kind added there without a description here does not compile.
export const EngineKindEnum = builder.enumType('EngineKind', {
  values: {
    GATYS: { value: 'GATYS', description: 'Gatys et al.: optimise the pixels through VGG19 features.' },
    FAST: { value: 'FAST', description: 'One pass of a feed-forward network trained for one style (Johnson et al.).' },
  } as const satisfies { [Kind in EngineKind]: { value: Kind; description: string } },
});

builder.prismaNode('Preset', {
  id: { field: 'id' },
  authScopes: (preset) => ({ owner: preset.owner }),
  fields: (t) => ({
    name: t.exposeString('name'),
    engine: t.field({ type: EngineKindEnum, resolve: (preset) => preset.engine }),
    builtIn: t.exposeBoolean('builtIn', { description: 'One of the presets the server ships with (restorable).' }),
    params: t.field({
      type: PresetParamsRef,
      nullable: true,
      description: 'What a GATYS preset sets (null for FAST).',
      resolve: (preset) => (preset.engine === 'GATYS' ? (preset.params as PresetParams) : null),
    }),
    fastParams: t.field({
      type: FastParamsRef,
      nullable: true,
      description: 'What a FAST preset sets (null for GATYS).',
      resolve: (preset) => (preset.engine === 'FAST' ? (preset.params as FastPresetParams) : null),
    }),
    effectiveParams: t.field({
      type: GatysParamsRef,
      nullable: true,
      description: 'The parameters a GATYS run with this preset and no overrides would use.',
      resolve: (preset) => (preset.engine === 'GATYS' ? resolveGatysOptions(preset.params as PresetParams) : null),
    }),
    effectiveFastParams: t.field({
      type: FastParamsRef,
      nullable: true,
      description:
        "The options a FAST run with this preset and no overrides would use (size null: the content's own, as " +
        'large as the backend holds).',
      resolve: (preset) => {
        if (preset.engine !== 'FAST') return null;
        const { styleModel, ...options } = preset.params as FastPresetParams;
        return { ...resolveFastOptions(options), ...(styleModel !== undefined ? { styleModel } : {}) };
      },
    }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    updatedAt: t.expose('updatedAt', { type: 'DateTime' }),
  }),
});

builder.queryFields((t) => ({
  presets: t.prismaField({
    type: ['Preset'],
    description: "All presets one may use (one's own and the built-ins), built-ins first.",
    resolve: (query, _root, _args, { db, principal }) =>
      db.preset.findMany({ ...query, where: usableBy(principal), orderBy: [{ builtIn: 'desc' }, { name: 'asc' }] }),
  }),
  preset: t.prismaField({
    type: 'Preset',
    nullable: true,
    args: { id: t.arg.id() },
    resolve: (query, _root, args, { db, principal }) => {
      const id = localIdOrNull(String(args.id), 'Preset');
      return id ? db.preset.findFirst({ ...query, where: { id, ...usableBy(principal) } }) : null;
    },
  }),
}));

const CreatePresetInput = builder.inputType('CreatePresetInput', {
  fields: (t) => ({
    name: t.string({ description: 'Unique, 1 to 80 characters.' }),
    engine: t.field({ type: EngineKindEnum, required: false, defaultValue: 'GATYS' }),
    params: t.field({ type: GatysParamsInput, required: false, description: 'For a GATYS preset.' }),
    fastParams: t.field({
      type: FastParamsInput,
      required: false,
      description: 'For a FAST preset: the style model and its options.',
    }),
  }),
});

const UpdatePresetInput = builder.inputType('UpdatePresetInput', {
  fields: (t) => ({
    name: t.string({ required: false }),
    params: t.field({
      type: GatysParamsInput,
      required: false,
      description: "Replaces all of a GATYS preset's parameters.",
    }),
    fastParams: t.field({
      type: FastParamsInput,
      required: false,
      description: "Replaces all of a FAST preset's options.",
    }),
  }),
});

builder.mutationFields((t) => ({
  createPreset: t.prismaField({
    type: 'Preset',
    authScopes: { manage: true },
    errors: { types: [InputError, NotFoundError, ConflictError] },
    args: { input: t.arg({ type: CreatePresetInput }) },
    resolve: async (query, _root, { input }, { db, principal }) => {
      const engine = input.engine ?? 'GATYS';
      const params =
        engine === 'FAST'
          ? givenParams(input.fastParams as FastPresetParams)
          : givenParams(input.params as PresetParams);
      const preset = await createPreset(db, principal, { name: input.name, engine, params });
      return db.preset.findUniqueOrThrow({ ...query, where: { id: preset.id } });
    },
  }),
  updatePreset: t.prismaField({
    type: 'Preset',
    authScopes: { manage: true },
    errors: { types: [InputError, NotFoundError, ConflictError] },
    args: { id: t.arg.id(), input: t.arg({ type: UpdatePresetInput }) },
    resolve: async (query, _root, { id, input }, { db, principal }) => {
      const preset = await updatePreset(db, principal, localId(String(id), 'Preset'), {
        name: input.name,
        params: input.params
          ? givenParams(input.params as PresetParams)
          : input.fastParams
            ? givenParams(input.fastParams as FastPresetParams)
            : null,
      });
      return db.preset.findUniqueOrThrow({ ...query, where: { id: preset.id } });
    },
  }),
  deletePreset: t.field({
    type: DeletedRef,
    authScopes: { manage: true },
    errors: { types: [NotFoundError] },
    description:
      'Deletes a preset (a built-in only as an admin: restoreBuiltInPresets brings them back). Runs keep their ' +
      'parameters.',
    args: { id: t.arg.id() },
    resolve: async (_root, { id }, { db, principal }) => {
      await deletePreset(db, principal, localId(String(id), 'Preset'));
      return { id: String(id) };
    },
  }),
  restoreBuiltInPresets: t.prismaField({
    type: ['Preset'],
    description: 'Puts every built-in preset back with its original name and parameters (admin).',
    authScopes: { admin: true },
    resolve: async (query, _root, _args, { db }) => {
      const restored = await restoreBuiltInPresets(db);
      return db.preset.findMany({
        ...query,
        where: { id: { in: restored.map((p) => p.id) } },
        orderBy: { name: 'asc' },
      });
    },
  }),
}));
