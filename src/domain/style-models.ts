// Style models as a resource: the pretrained catalogue (rows seeded on start, files fetched on first use) and
// models imported from a file or folder (copied into the data folder). Each gets a preview: the fixed sample
// scene, stylised by the model.
import { randomUUID } from 'node:crypto';
import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import {
  MODEL_CATALOGUE,
  catalogueModel,
  copyModelFiles,
  detectModelFormat,
  ensureCatalogueModel,
  ModelMissingError,
  type Engine,
  type DownloadProgress,
  type StyleModelSource,
} from '../engine/index.js';
import type { Principal } from '../auth/principal.js';
import { AccessError, ConflictError, InputError, NotFoundError, UnavailableError } from '../errors.js';
import type { Db } from '../storage/db.js';
import type { StyleModel } from '../storage/generated/client.ts';
import type { ImageStore } from '../storage/image-store.js';
import { ACTIVE_STATUSES } from './run-status.js';
import { assertSiblingInside, resolveImportPath } from './import-path.js';
import { mayChange, readersFor, SHARED_OWNER, usableBy } from './owners.js';
import { stylizeSample } from './sample-scene.js';

export interface StyleModelServices {
  db: Db;
  images: ImageStore;
  engine: Pick<Engine, 'run'>;
  /** Where imported models are copied (DATA_DIR/models). */
  modelsDir: string;
  /** The only folder importStyleModel reads from (GRAMIAN_IMPORT_DIR). */
  importDir: string;
  allowDownload: boolean;
  /** Environment for catalogue lookups (GRAMIAN_MODELS, the cache folder). */
  env: NodeJS.ProcessEnv;
}

/** Longest side of preview thumbnails. */
const PREVIEW_SIZE = 192;

/** Every catalogue model has a row, so it can be listed and picked before its files are on disk. */
export async function seedCatalogueModels(db: Db): Promise<void> {
  const shared = await db.styleModel.findMany({ where: { owner: SHARED_OWNER }, select: { name: true } });
  const existing = new Set(shared.map((m) => m.name));
  const missing = MODEL_CATALOGUE.filter((m) => !existing.has(m.name));
  if (missing.length === 0) return;
  await db.styleModel.createMany({
    data: missing.map((m) => ({
      name: m.name,
      owner: SHARED_OWNER,
      architecture: m.architecture,
      format: m.format,
      source: 'catalogue',
      location: m.location,
    })),
  });
}

/** What the engine loads for a stored model; a catalogue model is fetched first when it is not on disk yet. */
export async function modelSource(
  services: Pick<StyleModelServices, 'modelsDir' | 'allowDownload' | 'env'>,
  model: StyleModel,
  onProgress?: (p: DownloadProgress) => void,
  /** Stops a download (a run canceled while it waits for its model). */
  signal?: AbortSignal,
): Promise<StyleModelSource> {
  const base = { architecture: model.architecture, format: model.format } as Pick<
    StyleModelSource,
    'architecture' | 'format'
  >;
  if (model.source === 'import') return { ...base, path: path.join(services.modelsDir, model.location) };
  const entry = catalogueModel(model.name);
  if (!entry) throw new NotFoundError('catalogue model', model.name);
  return {
    ...base,
    path: await ensureCatalogueModel(entry, {
      allowDownload: services.allowDownload,
      env: services.env,
      ...(onProgress ? { onProgress } : {}),
      ...(signal ? { signal } : {}),
    }),
  };
}

/** Fetches a catalogue model's files if needed and (re)makes its preview. */
export async function prepareStyleModel(
  services: StyleModelServices,
  principal: Principal,
  id: string,
): Promise<StyleModel> {
  const model = await services.db.styleModel.findFirst({ where: { id, ...usableBy(principal) } });
  if (!model) throw new NotFoundError('StyleModel', id);
  let source: StyleModelSource;
  try {
    source = await modelSource(services, model);
  } catch (error) {
    // Not on disk, and not downloadable now (offline, or downloads off): the request is fine, the files are missing.
    if (error instanceof ModelMissingError) throw new UnavailableError(error.message);
    throw error;
  }
  // The preview is the model's: everyone's for a catalogue model.
  const preview = await services.images.save(await stylizeSample(services.engine, source, PREVIEW_SIZE), model.owner);
  return services.db.styleModel.update({ where: { id }, data: { previewImageId: preview.id } });
}

/** A stored image the principal may read, to attach to a model as its reference painting (NOT_FOUND otherwise). */
async function readableImage(
  services: Pick<StyleModelServices, 'images'>,
  principal: Principal,
  imageId: string,
): Promise<string> {
  const image = await services.images.find(imageId, readersFor(principal));
  if (!image) throw new NotFoundError('Image', imageId);
  return image.id;
}

/**
 * Writes a model row naming `styleImageId` (if any), and lets the model's owner read that image (everyone, for a
 * catalogue model), in one transaction. An image collected meanwhile fails the write with NOT_FOUND, nothing written.
 */
function withReference<T>(
  services: Pick<StyleModelServices, 'db' | 'images'>,
  owner: string,
  styleImageId: string | null | undefined,
  write: (tx: Pick<Db, 'styleModel'>) => Promise<T>,
): Promise<T> {
  if (!styleImageId) return write(services.db);
  const { db, images } = services;
  return images.referencing([styleImageId], () =>
    db.$transaction(async (tx) => {
      await tx.imageOwner.upsert({
        where: { imageId_owner: { imageId: styleImageId, owner } },
        create: { imageId: styleImageId, owner },
        update: {},
      });
      return write(tx);
    }),
  );
}

/**
 * Attaches the painting a model was trained on (an image the principal may read), or detaches it (null): FAST runs
 * with the model then get a style score against it. Own imported models; catalogue models for admins only.
 */
export async function updateStyleModel(
  services: Pick<StyleModelServices, 'db' | 'images'>,
  principal: Principal,
  id: string,
  input: { styleImageId?: string | null },
): Promise<StyleModel> {
  const model = await services.db.styleModel.findFirst({ where: { id, ...usableBy(principal) } });
  if (!model) throw new NotFoundError('StyleModel', id);
  if (!mayChange(principal, model.owner))
    throw new AccessError('FORBIDDEN', 'catalogue style models can be changed by an admin only');
  if (input.styleImageId === undefined) return model;
  const styleImageId =
    input.styleImageId === null ? null : await readableImage(services, principal, input.styleImageId);
  return withReference(services, model.owner, styleImageId, (tx) =>
    tx.styleModel.update({ where: { id }, data: { styleImageId } }),
  );
}

function checkName(name: string): string {
  const trimmed = name.trim();
  if (!/^[\w][\w .()-]{0,79}$/.test(trimmed))
    throw new InputError('name', 'must be 1 to 80 letters, digits, spaces, dots, dashes or brackets');
  return trimmed;
}

/**
 * Imports a model from a checkpoint folder (ml5) or an ncnn .param file (with its .bin beside it). The files are
 * copied into the data folder and the model must load and stylise the sample before anything is stored.
 */
export async function importStyleModel(
  services: StyleModelServices,
  principal: Principal,
  input: { name: string; path: string; styleImageId?: string | null },
): Promise<StyleModel> {
  const name = checkName(input.name);
  const { owner } = principal;
  // Free among the owner's models and the catalogue's, which everyone sees beside them.
  if (await services.db.styleModel.findFirst({ where: { name, owner: { in: [owner, SHARED_OWNER] } } })) {
    throw new ConflictError(`a style model named "${name}" already exists`);
  }
  const styleImageId = input.styleImageId ? await readableImage(services, principal, input.styleImageId) : null;
  const file = await resolveImportPath(services.importDir, input.path);
  let detected: StyleModelSource;
  try {
    detected = detectModelFormat(file);
  } catch (error) {
    // Inside the import folder, where the admin put the files: say what is wrong with them, by the path given.
    throw new InputError(
      'path',
      (error as Error).message.replace(file, input.path),
      'a checkpoint folder with manifest.json, or an ncnn .param file with its .bin',
    );
  }
  if (detected.format === 'ncnn')
    await assertSiblingInside(services.importDir, detected.path.replace(/\.param$/, '.bin'));
  const folder = randomUUID();
  const target = path.join(services.modelsDir, folder);
  await mkdir(target, { recursive: true });
  try {
    const location = path.join(folder, await copyModelFiles(detected, target));
    const source: StyleModelSource = {
      architecture: detected.architecture,
      format: detected.format,
      path: path.join(services.modelsDir, location),
    };
    let preview;
    try {
      preview = await stylizeSample(services.engine, source, PREVIEW_SIZE);
    } catch (error) {
      // An API node has no engine to try the model on: that is the node's limit, not the model's.
      if (error instanceof UnavailableError) throw error;
      throw new InputError('path', `is not a usable ${detected.architecture} model: ${(error as Error).message}`);
    }
    const image = await services.images.save(preview, owner);
    return await withReference(services, owner, styleImageId, (tx) =>
      tx.styleModel.create({
        data: {
          name,
          owner,
          architecture: detected.architecture,
          format: detected.format,
          source: 'import',
          location,
          previewImageId: image.id,
          styleImageId,
        },
      }),
    );
  } catch (error) {
    await rm(target, { recursive: true, force: true });
    throw error;
  }
}

/** Deletes an imported model unless a queued or running run needs it; catalogue models stay. */
export async function deleteStyleModel(
  services: Pick<StyleModelServices, 'db' | 'modelsDir'>,
  principal: Principal,
  id: string,
): Promise<StyleModel> {
  const { db } = services;
  const model = await db.styleModel.findFirst({ where: { id, ...usableBy(principal) } });
  if (!model) throw new NotFoundError('StyleModel', id);
  if (model.source === 'catalogue')
    throw new ConflictError(`"${model.name}" is a catalogue model and cannot be deleted`);
  const waiting = await db.run.count({ where: { styleModelId: id, status: { in: [...ACTIVE_STATUSES] } } });
  if (waiting > 0)
    throw new ConflictError(`style model "${model.name}" is used by ${waiting} queued or running run(s)`);
  const deleted = await db.styleModel.delete({ where: { id } });
  await rm(path.join(services.modelsDir, model.location.split(path.sep)[0]!), { recursive: true, force: true });
  return deleted;
}
