// The presets file: a JSON array of presets, each exactly the API's CreatePresetInput:
//
//   [
//     { "name": "Sketch", "engine": "GATYS", "params": { "size": 256, "steps": 50, "styleWeight": 1000 } },
//     { "name": "Mosaic 512", "engine": "FAST", "fastParams": { "styleModel": "mosaic", "size": 512 } }
//   ]
//
// name: unique, 1 to 80 characters. engine: "GATYS" (default) or "FAST". params (GATYS): any GatysParamsInput
// fields (size, steps, optimizer, contentWeight, styleWeight, tvWeight, styleScale, scales, previewEvery, …).
// fastParams (FAST): styleModel (a model name), size, strength, preserveColors. Fields left out take the engine
// defaults. The shape is checked here; the values are checked by the server, which answers typed errors.
//
// Syncing makes the server match the file: a preset whose name is new is created; one that exists is updated, its
// parameters replaced by the file's (a preset cannot change engine: rename it or delete the old one).
import { readFile } from 'node:fs/promises';
import type { ResultOf, VariablesOf } from '../graphql.ts';
import { type Catalog, CreatePreset, UpdatePreset } from '../operations.ts';
import { GraphQLRequestError, describeError, type GramianClient } from './client.ts';

export type PresetEntry = VariablesOf<typeof CreatePreset>['input'];
type Engine = NonNullable<PresetEntry['engine']>;
export type ServerPreset = ResultOf<typeof Catalog>['presets'][number];

const ENGINES: readonly Engine[] = ['GATYS', 'FAST'];
const KEYS = ['name', 'engine', 'params', 'fastParams'];

/** A mistake in the presets file or in what the server said of it; the batch exits 2. */
export class PresetFileError extends Error {}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Reads and checks the shape of a presets file; every problem is listed at once. */
export async function readPresetFile(file: string): Promise<PresetEntry[]> {
  let json: unknown;
  try {
    json = JSON.parse(await readFile(file, 'utf8'));
  } catch (error) {
    throw new PresetFileError(`${file}: ${(error as Error).message}`);
  }
  if (!Array.isArray(json))
    throw new PresetFileError(
      `${file}: expected a JSON array of presets, ` +
        '[{ "name": …, "engine": "GATYS" | "FAST", "params" | "fastParams": {…} }]',
    );
  const problems: string[] = [];
  const names = new Set<string>();
  json.forEach((entry: unknown, i) => {
    const at = `presets[${i}]`;
    if (!isObject(entry)) return problems.push(`${at}: expected an object`);
    for (const key of Object.keys(entry))
      if (!KEYS.includes(key)) problems.push(`${at}.${key}: unknown key (valid: ${KEYS.join(', ')})`);
    if (typeof entry.name !== 'string' || entry.name.trim() === '')
      problems.push(`${at}.name: expected a non-empty string`);
    else if (names.has(entry.name.trim())) problems.push(`${at}.name: "${entry.name}" appears twice`);
    else names.add(entry.name.trim());
    const engine = entry.engine ?? 'GATYS';
    if (!ENGINES.includes(engine as Engine)) problems.push(`${at}.engine: expected one of ${ENGINES.join(', ')}`);
    for (const key of ['params', 'fastParams'] as const)
      if (entry[key] !== undefined && !isObject(entry[key])) problems.push(`${at}.${key}: expected an object`);
    if (engine === 'GATYS' && entry.fastParams !== undefined)
      problems.push(`${at}.fastParams: a GATYS preset takes params`);
    if (engine === 'FAST' && entry.params !== undefined) problems.push(`${at}.params: a FAST preset takes fastParams`);
    return undefined;
  });
  if (problems.length) throw new PresetFileError(`${file}:\n  ${problems.join('\n  ')}`);
  // Shape checked above; parameter values go to the server as they are.
  return json as PresetEntry[];
}

export interface SyncedPreset {
  id: string;
  name: string;
  engine: Engine;
  action: 'created' | 'updated';
}

/** Creates or updates every preset of the file, in order; stops at the first refusal. */
export async function syncPresets(
  client: GramianClient,
  entries: readonly PresetEntry[],
  existing: readonly ServerPreset[],
): Promise<SyncedPreset[]> {
  const synced: SyncedPreset[] = [];
  for (const entry of entries) {
    const name = entry.name.trim();
    const engine = entry.engine ?? 'GATYS';
    const current = existing.find((p) => p.name === name);
    if (current && current.engine !== engine) {
      throw new PresetFileError(
        `preset "${name}": exists on the server as a ${current.engine} preset and the file makes it ${engine}; ` +
          'rename it or delete the old one',
      );
    }
    let result;
    try {
      result = current
        ? (
            await client.request(UpdatePreset, {
              id: current.id,
              input: engine === 'FAST' ? { fastParams: entry.fastParams ?? {} } : { params: entry.params ?? {} },
            })
          ).updatePreset
        : (await client.request(CreatePreset, { input: { ...entry, name, engine } })).createPreset;
    } catch (error) {
      // Variables that do not fit the schema (an unknown parameter, a string for a number) are refused as a whole.
      if (error instanceof GraphQLRequestError)
        throw new PresetFileError(`preset "${name}": ${error.errors.map((e) => e.message).join('; ')}`);
      throw error;
    }
    if (result.__typename !== 'Preset') throw new PresetFileError(`preset "${name}": ${describeError(result)}`);
    synced.push({ id: result.id, name: result.name, engine, action: current ? 'updated' : 'created' });
  }
  return synced;
}
