// The services a server runs on, built from its configuration: the database (migrated and seeded), the image store,
// the engine's workers, the event topics, the style models and the run manager. Nothing here listens on a port.
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { createAuthenticator } from './auth/authenticator.js';
import { ImageUrls } from './auth/image-urls.js';
import type { Config } from './config.js';
import { seedBuiltInPresets } from './domain/presets.js';
import { Retention } from './domain/retention.js';
import { RunManager } from './domain/run-manager.js';
import { seedCatalogueModels, type StyleModelServices } from './domain/style-models.js';
import { createTopics } from './domain/topics.js';
import { Engine } from './engine/index.js';
import type { Services } from './schema/context.js';
import { openDatabase } from './storage/db.js';
import { ImageCollector } from './storage/image-collector.js';
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
  // Where an admin drops model files for importStyleModel: there from the start, so it is easy to find.
  await mkdir(config.importDir, { recursive: true });
  const database = await openDatabase(config.databaseUrl);
  let engine: Engine | undefined;
  let collector: ImageCollector | undefined;
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
    // Collections on a connection of their own (see storage/image-collector.ts); started by the server once it listens.
    collector = new ImageCollector(database.file, images);
    const retention = new Retention({
      db,
      collector,
      ...(config.runRetentionDays ? { runRetentionDays: config.runRetentionDays } : {}),
      log: (message) => log(`retention: ${message}`),
    });
    const topics = createTopics();
    const styleModels: StyleModelServices = {
      db,
      images,
      engine,
      modelsDir: path.join(config.dataDir, 'models'),
      importDir: config.importDir,
      allowDownload: config.allowWeightsDownload,
      env: { ...process.env, ...(config.modelsFolder ? { GRAMIAN_MODELS: config.modelsFolder } : {}) },
    };
    const runs = new RunManager({
      db,
      images,
      engine,
      topics,
      capacity: config.engineWorkers,
      maxQueuedPerOwner: config.maxQueuedRunsPerOwner,
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
    const services: Services = {
      config,
      db,
      images,
      engine,
      engineInfo,
      runs,
      topics,
      styleModels,
      auth,
      imageUrls,
      retention,
    };
    const started = engine;
    const collecting = collector;
    return {
      services,
      close: async () => {
        // A collection in progress stops at its next batch; none starts after this.
        await retention.stop();
        collecting.close();
        await started.close();
        await database.close();
      },
    };
  } catch (error) {
    // A server that cannot start leaves no worker or open database behind.
    await engine?.close();
    collector?.close();
    await database.close();
    throw error;
  }
}
