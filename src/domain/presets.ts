// Presets: named parameter sets a transfer starts from. The built-ins are seeded into a new database and can be
// restored; every preset's parameters pass the engine's own validator before they are stored.
import {
  EngineInputError,
  resolveFastOptions,
  resolveGatysOptions,
  type FastOptions,
  type GatysOptions,
} from '../engine/index.js';
import type { Principal } from '../auth/principal.js';
import { AccessError, ConflictError, InputError, NotFoundError } from '../errors.js';
import type { Db } from '../storage/db.js';
import type { Preset } from '../storage/generated/client.ts';
import { EngineKind } from '../storage/generated/enums.ts';
import { mayChange, SHARED_OWNER, usableBy } from './owners.js';

export { EngineKind };
/** Every engine, in the order of the Prisma enum EngineKind (the one list of them). */
export const ENGINE_KINDS: readonly EngineKind[] = Object.values(EngineKind);

/** Gatys parameters a preset may set; anything left out takes the engine default. */
export type PresetParams = Partial<GatysOptions>;

/** What a FAST preset may set: the style model (by name) and the pass's options. */
export type FastPresetParams = Partial<FastOptions> & { styleModel?: string };

/**
 * The built-ins, their steps and scales chosen from `npm run bench:quality` (quality score against seconds; README
 * "Presets from measurement"): at 192 px on wasm, 200 steps came within 0.014 of 300's content score and 0.001 of its
 * style score in 71% of the time, and 2 scales × 100 steps matched 3 × 200's style score with a better content score
 * in 47% of the time.
 */
export const BUILT_IN_PRESETS: { name: string; engine: EngineKind; params: PresetParams | FastPresetParams }[] = [
  { name: 'Quick preview', engine: 'GATYS', params: { size: 256, steps: 100, previewEvery: 5 } },
  { name: 'Balanced', engine: 'GATYS', params: { size: 512, steps: 200, previewEvery: 10 } },
  {
    name: 'High quality (multiscale)',
    engine: 'GATYS',
    params: { size: 768, scales: 2, steps: 100, previewEvery: 10 },
  },
  { name: 'Fast mosaic', engine: 'FAST', params: { styleModel: 'mosaic', size: 768 } },
];

/** Engine errors name the parameter; the API calls it params.<name>. */
export function toInputError(error: unknown, prefix = 'params'): unknown {
  return error instanceof EngineInputError
    ? new InputError(`${prefix}.${error.field}`, error.message.replace(`${error.field}: `, ''))
    : error;
}

/** The keys that were given, without undefined or null values. */
export function givenParams<T extends object>(params: T | null | undefined): T {
  return Object.fromEntries(Object.entries(params ?? {}).filter(([, v]) => v !== undefined && v !== null)) as T;
}

/** Checks parameters for an engine; returns only the keys that were given. */
export function validatePresetParams(
  engine: EngineKind,
  params: PresetParams | FastPresetParams,
): PresetParams | FastPresetParams {
  if (!ENGINE_KINDS.includes(engine))
    throw new InputError('engine', `unknown engine "${engine}"`, ENGINE_KINDS.join(', '));
  const given = givenParams(params);
  try {
    if (engine === 'FAST') {
      const { styleModel, ...options } = given as FastPresetParams;
      resolveFastOptions(options);
      if (styleModel !== undefined && typeof styleModel !== 'string')
        throw new InputError('fastParams.styleModel', 'must be a style model name');
    } else {
      resolveGatysOptions(given);
    }
  } catch (error) {
    // Named as in the GraphQL input: FAST options arrive as fastParams.
    throw toInputError(error, engine === 'FAST' ? 'fastParams' : 'params');
  }
  return given;
}

/** A FAST preset must name a model that exists, among those the principal may use. */
async function assertModelExists(
  db: Db,
  principal: Principal,
  engine: EngineKind,
  params: PresetParams | FastPresetParams,
): Promise<void> {
  const name = engine === 'FAST' ? (params as FastPresetParams).styleModel : undefined;
  if (name !== undefined && !(await db.styleModel.findFirst({ where: { name, ...usableBy(principal) } }))) {
    throw new NotFoundError('StyleModel', name);
  }
}

function checkName(name: string): string {
  const trimmed = name.trim();
  if (trimmed.length < 1 || trimmed.length > 80) throw new InputError('name', 'must be 1 to 80 characters');
  return trimmed;
}

/** A name is free when neither the owner's presets nor the built-ins (which everyone sees beside them) have it. */
async function assertNameFree(db: Db, owner: string, name: string, exceptId?: string): Promise<void> {
  const existing = await db.preset.findFirst({ where: { name, owner: { in: [owner, SHARED_OWNER] } } });
  if (existing && existing.id !== exceptId) throw new ConflictError(`a preset named "${name}" already exists`);
}

export async function createPreset(
  db: Db,
  principal: Principal,
  input: { name: string; engine: EngineKind; params: PresetParams | FastPresetParams },
): Promise<Preset> {
  const name = checkName(input.name);
  const params = validatePresetParams(input.engine, input.params);
  await assertModelExists(db, principal, input.engine, params);
  await assertNameFree(db, principal.owner, name);
  return db.preset.create({ data: { name, owner: principal.owner, engine: input.engine, params } });
}

/** A preset the principal may change: NOT_FOUND if it cannot see it, FORBIDDEN for a built-in and a non-admin. */
async function changeablePreset(db: Db, principal: Principal, id: string): Promise<Preset> {
  const preset = await db.preset.findFirst({ where: { id, ...usableBy(principal) } });
  if (!preset) throw new NotFoundError('Preset', id);
  if (!mayChange(principal, preset.owner))
    throw new AccessError('FORBIDDEN', 'built-in presets can be changed by an admin only');
  return preset;
}

/** Renames and/or replaces parameters. Editing a built-in keeps its flag; restoring puts its defaults back. */
export async function updatePreset(
  db: Db,
  principal: Principal,
  id: string,
  input: { name?: string | null; params?: PresetParams | FastPresetParams | null },
): Promise<Preset> {
  const preset = await changeablePreset(db, principal, id);
  const { engine } = preset;
  const name = input.name != null ? checkName(input.name) : preset.name;
  const params = input.params != null ? validatePresetParams(engine, input.params) : (preset.params as PresetParams);
  await assertModelExists(db, principal, engine, params);
  await assertNameFree(db, preset.owner, name, id);
  return db.preset.update({ where: { id }, data: { name, params } });
}

export async function deletePreset(db: Db, principal: Principal, id: string): Promise<Preset> {
  await changeablePreset(db, principal, id);
  // Runs keep their own parameter snapshot; their link to the preset is cleared by the foreign key.
  return db.preset.delete({ where: { id } });
}

/** A new database gets the built-ins (an empty preset table is how a first start looks). */
export async function seedBuiltInPresets(db: Db): Promise<void> {
  if ((await db.preset.count()) > 0) return;
  await restoreBuiltInPresets(db);
}

/** Puts every built-in back with its original parameters, under its original name. */
export async function restoreBuiltInPresets(db: Db): Promise<Preset[]> {
  return db.$transaction(
    BUILT_IN_PRESETS.map((preset) =>
      db.preset.upsert({
        where: { owner_name: { owner: SHARED_OWNER, name: preset.name } },
        create: { ...preset, owner: SHARED_OWNER, builtIn: true },
        update: { engine: preset.engine, params: preset.params, builtIn: true },
      }),
    ),
  );
}
