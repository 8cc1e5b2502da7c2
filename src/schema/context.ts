// What every resolver receives: the services of one server, shared by all requests, and who is asking. A new
// context object per request (scope-auth caches its checks on it).
import type { Authenticator } from '../auth/authenticator.js';
import type { ImageUrls } from '../auth/image-urls.js';
import type { Principal } from '../auth/principal.js';
import type { Config } from '../config.js';
import type { Retention } from '../domain/retention.js';
import type { Runs } from '../domain/runs.js';
import type { StyleModelServices } from '../domain/style-models.js';
import type { Topics } from '../domain/topics.js';
import type { BackendLimits, Engine, EngineInfo } from '../engine/index.js';
import type { Db } from '../storage/db.js';
import type { ImageStore } from '../storage/image-store.js';

/** The engine as the API uses it: this process's, or on an API node the cluster's workers' facts and no runs. */
export interface EngineService {
  info(): EngineInfo | Promise<EngineInfo>;
  run: Engine['run'];
}

export interface Services {
  config: Config;
  db: Db;
  images: ImageStore;
  engine: EngineService;
  /** Backend facts read once at start (queue counts are read live); an API node's are those of no engine. */
  engineInfo: EngineInfo;
  /** What bounds a run's size: this node's engine, or in a cluster the live workers'. */
  engineLimits(): Promise<BackendLimits>;
  runs: Runs;
  topics: Topics;
  styleModels: StyleModelServices;
  /** Who a request is: credentials to principal. */
  auth: Authenticator;
  /** Signs the image URLs GraphQL hands out, and checks them when they come back. */
  imageUrls: ImageUrls;
  /** deleteRun, collections of unreferenced images and expired runs, and the storage report (domain/retention.ts). */
  retention: Retention;
}

export interface Context extends Services {
  principal: Principal;
}
