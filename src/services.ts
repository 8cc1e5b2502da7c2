// The services a server runs on, built from its configuration: the database (migrated and seeded), the image store,
// the engine's workers, the event topics, the style models and the run manager. Nothing here listens on a port.
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { createAuthenticator } from './auth/authenticator.js';
import { ImageUrls } from './auth/image-urls.js';
import type { Config } from './config.js';
import { seedBuiltInPresets } from './domain/presets.js';
import { RunManager } from './domain/run-manager.js';
import { seedCatalogueModels, type StyleModelServices } from './domain/style-models.js';
import { createTopics } from './domain/topics.js';
import { Engine } from './engine/index.js';
import type { Services } from './schema/context.js';
import { openDatabase } from './storage/db.js';
import { ImageStore } from './storage/image-store.js';

export type Log = (message: string) => void;

/** How long an image URL handed out by GraphQL stays valid, at least. */
const IMAGE_URL_TTL_SECONDS = 3600;

export interface RunningServices {
  services: Services;
  /** Closes the engine, then the database; the runs are shut down before (RunManager.shutdown). */
  close(): Promise<void>;
}

export async function createServices(config: Config, log: Log): Promise<RunningServices> {
  await mkdir(config.imagesDir, { recursive: true });
  const database = await openDatabase(config.databaseUrl);
  let engine: Engine | undefined;
  try {
    const db = database.prisma;
    await seedCatalogueModels(db);
    await seedBuiltInPresets(db);
    engine = await Engine.start({
      workers: config.engineWorkers,
      backend: config.backend,
      ...(config.wasmThreads ? { threads: config.wasmThreads } : {}),
      ...(config.weightsDir ? { weightsDir: config.weightsDir } : {}),
      allowDownload: config.allowWeightsDownload,
      log: (message) => log(`engine: ${message}`),
    });
    const engineInfo = engine.info();
    const limits = { maxBytes: config.maxUploadBytes, maxPixels: config.maxImagePixels };
    const images = new ImageStore(db, config.imagesDir, limits);
    const topics = createTopics();
    const styleModels: StyleModelServices = {
      db,
      images,
      engine,
      modelsDir: path.join(config.dataDir, 'models'),
      allowDownload: config.allowWeightsDownload,
      env: { ...process.env, ...(config.modelsFolder ? { GRAMIAN_MODELS: config.modelsFolder } : {}) },
    };
    const runs = new RunManager({
      db,
      images,
      engine,
      topics,
      capacity: config.engineWorkers,
      backend: engineInfo.backend,
      models: styleModels,
      log,
    });
    const auth = createAuthenticator({
      mode: config.auth,
      host: config.host,
      db,
      ...(config.jwt ? { jwt: config.jwt } : {}),
    });
    for (const line of auth.describe()) log(line);
    const imageUrls = await ImageUrls.load(db, { sign: auth.required, ttlSeconds: IMAGE_URL_TTL_SECONDS });
    const services: Services = { config, db, images, engine, engineInfo, runs, topics, styleModels, auth, imageUrls };
    const started = engine;
    return {
      services,
      close: async () => {
        await started.close();
        await database.close();
      },
    };
  } catch (error) {
    // A server that cannot start leaves no worker or open database behind.
    await engine?.close();
    await database.close();
    throw error;
  }
}
