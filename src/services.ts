// The services a node runs on, built from its configuration and role: the database (migrated and seeded), the image
// store, the engine's workers (not on an API node), the event topics (in process, or on Redis in a cluster), the
// style models and the runs (the embedded queue, or the cluster's BullMQ queue and, on a worker, its job worker).
// Nothing here listens on a port.
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { createAuthenticator } from './auth/authenticator.js';
import { ImageUrls } from './auth/image-urls.js';
import type { Config } from './config.js';
import { seedBuiltInPresets } from './domain/presets.js';
import { Retention } from './domain/retention.js';
import { RunExecutor } from './domain/run-executor.js';
import { RunManager } from './domain/run-manager.js';
import type { Runs } from './domain/runs.js';
import { seedCatalogueModels, type StyleModelServices } from './domain/style-models.js';
import { createTopics, type Topics } from './domain/topics.js';
import { openCluster, type Cluster } from './cluster/cluster.js';
import { ClusterRuns } from './cluster/cluster-runs.js';
import { clusterEngineInfo, EngineAnnouncer, UNKNOWN_ENGINE_LIMITS } from './cluster/engine-directory.js';
import { RunWorker } from './cluster/run-worker.js';
import { UnavailableError } from './errors.js';
import type { ReadinessChecks } from './http/operations.js';
import { Metrics } from './observability/metrics.js';
import { DEFAULT_CHECKPOINT_EVERY, Engine, maxPixelsFor, type BackendLimits, type EngineInfo } from './engine/index.js';
import type { EngineService, Services } from './schema/context.js';
import { openDatabase } from './storage/db.js';
import { openBlobStore } from './storage/blob-store.js';
import { ImageCollector } from './storage/image-collector.js';
import { ImageStore } from './storage/image-store.js';

export type Log = (message: string) => void;

/** How long an image URL handed out by GraphQL stays valid, at least. */
const IMAGE_URL_TTL_SECONDS = 3600;

export interface RunningServices {
  services: Services;
  /** A worker's job taker (cluster roles `worker` and `all`). */
  worker?: RunWorker;
  /** The cluster's connections; absent in the embedded mode. */
  cluster?: Cluster;
  /** /metrics. */
  metrics: Metrics;
  /** /ready: what this node needs to do its work, and whether each answers now. */
  readiness: ReadinessChecks;
  /** Closes the worker, the engine, Redis, then the database; the runs are shut down before (Runs.shutdown). */
  close(): Promise<void>;
}

export async function createServices(config: Config, log: Log): Promise<RunningServices> {
  // Checked before anything else starts: a bucket that does not answer stops the server with a clear message.
  const blobs = await openBlobStore(config.imageStore, config.dataDir);
  // Where an admin drops model files for importStyleModel: there from the start, so it is easy to find.
  await mkdir(config.importDir, { recursive: true });
  const database = await openDatabase(config.databaseUrl);
  let engine: Engine | undefined;
  let cluster: Cluster | undefined;
  let collector: ImageCollector | undefined;
  let worker: RunWorker | undefined;
  let announcer: EngineAnnouncer | undefined;
  try {
    const db = database.prisma;
    const servesApi = config.role !== 'worker';
    const runsEngine = config.role !== 'api';
    if (servesApi) await seedShared(db);
    if (config.redisUrl) cluster = await openCluster({ ...config, redisUrl: config.redisUrl }, log);
    if (runsEngine) {
      engine = await Engine.start({
        workers: config.engineWorkers,
        backend: config.backend,
        ...(config.wasmThreads ? { threads: config.wasmThreads } : {}),
        ...(config.weightsDir ? { weightsDir: config.weightsDir } : {}),
        allowDownload: config.allowWeightsDownload,
        log: (message) => log(`engine: ${message}`),
      });
    }
    const engineInfo: EngineInfo = engine ? engine.info() : clusterEngineInfo([]);
    const limits = { maxBytes: config.maxUploadBytes, maxPixels: config.maxImagePixels };
    const images = new ImageStore(db, blobs, limits);
    // Collections on a connection of their own (see storage/image-collector.ts); started by the server once it listens.
    collector = await ImageCollector.open(database, images);
    const retention = new Retention({
      db,
      collector,
      ...(config.runRetentionDays ? { runRetentionDays: config.runRetentionDays } : {}),
      log: (message) => log(`retention: ${message}`),
    });
    const metrics = new Metrics();
    const collecting = collector;
    const topics: Topics = metrics.instrument(cluster?.topics ?? createTopics());
    const engineService = engine ?? apiNodeEngine(cluster!);
    const styleModels: StyleModelServices = {
      db,
      images,
      engine: engineService,
      modelsDir: path.join(config.dataDir, 'models'),
      importDir: config.importDir,
      allowDownload: config.allowWeightsDownload,
      env: { ...process.env, ...(config.modelsFolder ? { GRAMIAN_MODELS: config.modelsFolder } : {}) },
    };
    const checkpointEvery = config.checkpointEvery ?? DEFAULT_CHECKPOINT_EVERY;
    const runOptions = {
      db,
      images,
      topics,
      checkpointEvery,
      backend: engineInfo.backend,
      models: styleModels,
      metrics,
      discard: async (ids: string[]) => {
        await collecting.reap({ ids, storedBefore: new Date() });
      },
      log,
    };
    let runs: Runs;
    if (!cluster) {
      runs = new RunManager({
        ...runOptions,
        engine: engine!,
        capacity: config.engineWorkers,
        maxQueuedPerOwner: config.maxQueuedRunsPerOwner,
      });
    } else {
      const clusterRuns = new ClusterRuns({
        db,
        topics,
        queue: cluster.queue,
        maxQueuedPerOwner: config.maxQueuedRunsPerOwner,
        log,
      });
      runs = clusterRuns;
      // A Redis that comes back without its data (no persistence) has forgotten the queued jobs: queue them again.
      cluster.onReconnect(() => void runs.recover().catch((e: Error) => log(`could not requeue runs: ${e.message}`)));
      if (engine) {
        const executor = new RunExecutor({ ...runOptions, engine, transitions: clusterRuns.transitions });
        worker = new RunWorker({
          db,
          topics,
          executor,
          transitions: clusterRuns.transitions,
          connection: cluster.jobs,
          prefix: cluster.prefix,
          concurrency: config.engineWorkers,
          lockMs: config.jobLockMs,
          log,
        });
        const announced = engine;
        announcer = new EngineAnnouncer(cluster.commands, cluster.prefix, cluster.nodeId, () => announced.info());
        announcer.start();
      }
    }
    const auth = createAuthenticator({
      mode: config.auth,
      host: config.host,
      db,
      ...(config.jwt ? { jwt: config.jwt } : {}),
    });
    if (servesApi) for (const line of auth.describe()) log(line);
    const imageUrls = await ImageUrls.load(db, { sign: auth.required, ttlSeconds: IMAGE_URL_TTL_SECONDS });
    const directory = cluster?.directory;
    const services: Services = {
      config,
      db,
      images,
      engine: engineService,
      engineInfo,
      // The size a run may have: this node's engine's, or in a cluster the smallest of the live workers' (a run may
      // go to any of them).
      engineLimits: async (): Promise<BackendLimits> => {
        if (engine || !directory) return engineInfo;
        const engines = await directory.engines().catch(() => []);
        return smallestLimits(engines) ?? UNKNOWN_ENGINE_LIMITS;
      },
      runs,
      topics,
      styleModels,
      auth,
      imageUrls,
      retention,
    };
    const started = { engine, collector, worker, announcer, cluster };
    const readiness: ReadinessChecks = {
      database: async () => (await db.$queryRaw`SELECT 1 AS up`) !== undefined,
      ...(cluster ? { redis: () => Promise.resolve(started.cluster!.redisUp()) } : {}),
      ...(engine ? { engine: () => Promise.resolve(started.engine!.info().workers > 0) } : {}),
    };
    return {
      services,
      metrics,
      readiness,
      ...(worker ? { worker } : {}),
      ...(cluster ? { cluster } : {}),
      close: async () => {
        // A collection in progress stops at its next batch; none starts after this.
        await retention.stop();
        await started.collector.close();
        await started.worker?.close(config.shutdownTimeoutMs);
        await started.announcer?.stop();
        await started.engine?.close();
        await started.cluster?.close();
        await database.close();
        blobs.close();
      },
    };
  } catch (error) {
    // A server that cannot start leaves no worker, connection or open database behind.
    await worker?.close(0).catch(() => {});
    await engine?.close();
    await collector?.close();
    await cluster?.close();
    await database.close();
    blobs.close();
    throw error;
  }
}

/** An API node's engine: its facts from the live workers; it runs nothing itself. */
function apiNodeEngine(cluster: Cluster): EngineService {
  return {
    info: async () => clusterEngineInfo(await cluster.directory.engines().catch(() => [])),
    run: () => {
      throw new UnavailableError(
        'this node serves the API only (GRAMIAN_ROLE=api) and runs no engine; do this on a node with the role all',
      );
    },
  };
}

/** The most constraining of several engines' limits: the one whose largest Gatys output is smallest. */
function smallestLimits(engines: EngineInfo[]): BackendLimits | undefined {
  return engines.sort((a, b) => maxPixelsFor(a) - maxPixelsFor(b))[0];
}

/**
 * The catalogue's models and the built-in presets, in a new database. Several API nodes starting together on an empty
 * database may race to insert the same rows: the loser's unique-constraint error (P2002) means another node seeded
 * them, so it looks again.
 */
async function seedShared(db: Services['db'], attempts = 3): Promise<void> {
  try {
    await seedCatalogueModels(db);
    await seedBuiltInPresets(db);
  } catch (error) {
    if ((error as { code?: string }).code !== 'P2002' || attempts <= 1) throw error;
    await seedShared(db, attempts - 1);
  }
}
