// Gatys parameters in GraphQL: the full set a run used, the subset a preset sets, and the input that overrides
// them. All three come from one table so they cannot drift apart; ranges are checked by the engine's validator.
import type { FastPresetParams, PresetParams } from '../../domain/presets.js';
import { FAST_LIMITS, GATYS_DEFAULTS, LIMITS, RELU_LAYERS, type GatysOptions } from '../../engine/index.js';
import { builder } from '../builder.js';

export const OptimizerEnum = builder.enumType('Optimizer', {
  values: {
    LBFGS: { value: 'lbfgs', description: 'L-BFGS: far fewer steps for the same loss (default).' },
    ADAM: { value: 'adam' },
  } as const,
});
export const PoolingEnum = builder.enumType('Pooling', {
  values: { MAX: { value: 'max' }, AVG: { value: 'avg' } } as const,
});
export const InitEnum = builder.enumType('Init', {
  values: {
    CONTENT: { value: 'content', description: 'Start from the content image (default).' },
    NOISE: { value: 'noise', description: 'Seeded noise.' },
  } as const,
});

type Kind =
  'Int' | 'Float' | 'Boolean' | ['String'] | ['Float'] | typeof OptimizerEnum | typeof PoolingEnum | typeof InitEnum;

const FAST_TILE_SIZE =
  `Run the network in tiles of at most this many pixels a side (${FAST_LIMITS.tileSize.min}..` +
  `${FAST_LIMITS.tileSize.max}, halo excluded), with instance-norm statistics taken over the whole image, so the ` +
  'result equals a single pass; 0 or absent: tiles only past what the backend holds in one pass.';
const LAYERS = `one or more of ${RELU_LAYERS[0]}…${RELU_LAYERS.at(-1)}`;
const PARAMS: { [K in keyof GatysOptions]-?: { type: Kind; description: string } } = {
  size: {
    type: 'Int',
    description:
      `Longest side of the output in pixels (${LIMITS.size.min}..${LIMITS.size.max}, and at most the server's ` +
      'MAX_OUTPUT_SIDE). Past what the backend holds in one pass the run goes coarse to fine up to the largest size ' +
      'that fits, then refines each larger scale in overlapping tiles.',
  },
  steps: {
    type: 'Int',
    description:
      `Optimisation steps per scale (${LIMITS.steps.min}..${LIMITS.steps.max}); at a tiled scale, per tile and ` +
      'pass.',
  },
  optimizer: { type: OptimizerEnum, description: 'Optimiser.' },
  learningRate: {
    type: 'Float',
    description: 'Adam step size in pixel units (default 10); L-BFGS step scale (default 1).',
  },
  lbfgsHistory: { type: 'Int', description: `L-BFGS memory (${LIMITS.lbfgsHistory.min}..${LIMITS.lbfgsHistory.max}).` },
  contentWeight: { type: 'Float', description: 'Weight of the content loss (≥ 0).' },
  styleWeight: { type: 'Float', description: 'Weight of the style loss (≥ 0).' },
  tvWeight: { type: 'Float', description: 'Weight of the total-variation loss (≥ 0).' },
  contentLayers: { type: ['String'], description: `Content layers, ${LAYERS}.` },
  contentLayerWeights: { type: ['Float'], description: 'One weight per content layer (default 1 each).' },
  styleLayers: { type: ['String'], description: `Style layers, ${LAYERS}.` },
  styleLayerWeights: { type: ['Float'], description: 'One weight per style layer (default 1 each).' },
  pooling: { type: PoolingEnum, description: 'Pooling between VGG19 blocks.' },
  init: { type: InitEnum, description: 'Starting image.' },
  seed: { type: 'Int', description: 'Seed for NOISE init: the same seed and backend give the same image.' },
  styleScale: {
    type: 'Float',
    description: `Style images are resized to size × styleScale (${LIMITS.styleScale.min}..${LIMITS.styleScale.max}).`,
  },
  preserveColors: { type: 'Boolean', description: "Luminance-only transfer: keep the content's colours." },
  scales: {
    type: 'Int',
    description: `Coarse-to-fine scales, each twice the previous (${LIMITS.scales.min}..${LIMITS.scales.max}).`,
  },
  previewEvery: { type: 'Int', description: 'A preview every N steps (0 = none).' },
  previewSize: { type: 'Int', description: 'Longest side of previews in pixels.' },
  tileSize: {
    type: 'Int',
    description:
      'Refine every scale larger than this in overlapping tiles of at most this many pixels a side, overlap ' +
      `included (${LIMITS.tileSize.min}..${LIMITS.tileSize.max}), even one the backend could run whole; 0 ` +
      "(default): tile only the scales past the backend's single-pass limit.",
  },
  tilePasses: {
    type: 'Int',
    description:
      `Passes over the tiles of a tiled scale (${LIMITS.tilePasses.min}..${LIMITS.tilePasses.max}, default 1), ` +
      'each tile optimised `steps` steps per pass.',
  },
};
const NAMES = Object.keys(PARAMS) as (keyof GatysOptions)[];

/** Every parameter of a run, after preset, overrides and defaults. */
export const GatysParamsRef = builder.objectRef<GatysOptions>('GatysParams').implement({
  description: 'The parameters a run used.',
  fields: (t) =>
    Object.fromEntries(
      NAMES.map((name) => [
        name,
        t.field({
          type: PARAMS[name].type as 'Int',
          description: PARAMS[name].description,
          // Layer weights default to 1 per layer when a run did not set them.
          resolve: (params) =>
            (params[name] ??
              (name === 'contentLayerWeights'
                ? params.contentLayers.map(() => 1)
                : name === 'styleLayerWeights'
                  ? params.styleLayers.map(() => 1)
                  : GATYS_DEFAULTS[name])) as number,
        }),
      ]),
    ),
});

/** What a preset sets; null means the engine default. */
export const PresetParamsRef = builder.objectRef<PresetParams>('PresetParams').implement({
  description: 'The parameters a preset sets; null fields take the engine default.',
  fields: (t) =>
    Object.fromEntries(
      NAMES.map((name) => [
        name,
        t.field({
          type: PARAMS[name].type as 'Int',
          nullable: true,
          description: PARAMS[name].description,
          resolve: (params) => (params[name] ?? null) as number | null,
        }),
      ]),
    ),
});

export const GatysParamsInput = builder.inputType('GatysParamsInput', {
  description: 'Parameters to set or override; omitted fields keep the preset value or the engine default.',
  fields: (t) =>
    Object.fromEntries(
      NAMES.map((name) => [
        name,
        t.field({ type: PARAMS[name].type as 'Int', required: false, description: PARAMS[name].description }),
      ]),
    ),
});

/** The options of a fast (feed-forward) transfer, as a run used them or a preset sets them. */
export const FastParamsRef = builder.objectRef<FastPresetParams>('FastParams').implement({
  description: 'Options of a fast transfer; in a preset, null fields take the defaults.',
  fields: (t) => ({
    styleModel: t.string({
      nullable: true,
      description: 'Name of the style model.',
      resolve: (p) => p.styleModel ?? null,
    }),
    size: t.int({
      nullable: true,
      description:
        `Longest side of the output (${FAST_LIMITS.size.min}..${FAST_LIMITS.size.max}); ` +
        "default the content's own.",
      resolve: (p) => p.size ?? null,
    }),
    strength: t.float({
      nullable: true,
      description: 'Blend of the stylised image over the content, 0..1 (default 1).',
      resolve: (p) => p.strength ?? null,
    }),
    preserveColors: t.boolean({
      nullable: true,
      description: "Keep the content's colours.",
      resolve: (p) => p.preserveColors ?? null,
    }),
    tileSize: t.int({
      nullable: true,
      description: FAST_TILE_SIZE,
      resolve: (p) => p.tileSize ?? null,
    }),
  }),
});

export const FastParamsInput = builder.inputType('FastParamsInput', {
  description: 'Options of a fast transfer; omitted fields keep the preset value or the default.',
  fields: (t) => ({
    styleModel: t.string({ required: false, description: 'A style model by name (instead of styleModelId).' }),
    size: t.int({ required: false }),
    strength: t.float({ required: false }),
    preserveColors: t.boolean({ required: false }),
    tileSize: t.int({ required: false, description: FAST_TILE_SIZE }),
  }),
});
