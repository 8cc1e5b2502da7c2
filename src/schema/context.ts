// What every resolver receives: the services of one server, shared by all requests.
import type { Config } from '../config.js';
import type { RunManager } from '../domain/run-manager.js';
import type { StyleModelServices } from '../domain/style-models.js';
import type { Topics } from '../domain/topics.js';
import type { Engine, EngineInfo } from '../engine/index.js';
import type { Db } from '../storage/db.js';
import type { ImageStore } from '../storage/image-store.js';

export interface Services {
  config: Config;
  db: Db;
  images: ImageStore;
  engine: Engine;
  /** Backend facts read once at start (queue counts are read live). */
  engineInfo: EngineInfo;
  runs: RunManager;
  topics: Topics;
  styleModels: StyleModelServices;
}

export type Context = Services;
